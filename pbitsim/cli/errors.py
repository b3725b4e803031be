"""One-line user errors: ``Error: <message>`` on stderr and exit status 2, no traceback."""

import click


class PbitsimError(click.ClickException):
    exit_code = 2

    def show(self, file=None):
        click.echo(f"Error: {self.format_message()}", err=True, file=file)


class OneLineCommand(click.Command):
    """Usage errors (bad option values) become one ``Error:`` line with exit status 2."""

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            raise PbitsimError(exc.format_message()) from None
