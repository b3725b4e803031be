"""One-line user errors: ``Error: <message>`` on stderr and exit status 2, no traceback."""

import click


class PbitsimError(click.ClickException):
    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True, file=file)
