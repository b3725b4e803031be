"""Progress of the trainer's reporter calls, shared by ``train`` and ``sweep``: rich bars on a
terminal, one line per epoch otherwise (a log file, a pipe, a scheduler's output)."""

from __future__ import annotations


def make_progress(console, remaining: bool = True):
    """A rich ``Progress`` with a ``stats`` field (loss, accuracy, samples/s) beside the bar.

    Disabled (draws nothing) when ``console`` is not a terminal: :func:`make_reporter` then
    reports in lines.
    """
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)
    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[stats]}"), TimeElapsedColumn()]
    if remaining:
        columns.append(TimeRemainingColumn())
    return Progress(*columns, console=console, disable=not console.is_terminal)


def make_reporter(progress, label: str = "", keep: bool = True):
    """Bars on a terminal (:class:`BarReporter`), else a line per epoch (:class:`LineReporter`)."""
    if progress.console.is_terminal:
        return BarReporter(progress, label, keep)
    return LineReporter(progress.console, label)


class LineReporter:
    """The trainer's reporter as plain lines: one per finished epoch and one per test pass."""

    def __init__(self, console, label: str = ""):
        self.console, self.epochs = console, 0
        self.prefix = f"{label} " if label else ""

    def start_epoch(self, epoch, epochs, steps, done):
        self.epochs = epochs

    def step(self, loss, acc, samples_per_s):
        pass

    def end_epoch(self, record):
        self.console.print(f"{self.prefix}epoch {record['epoch']}/{self.epochs}: loss "
                           f"{record['loss']:.4f}  train acc {100 * record['train_acc']:.1f}%  "
                           f"{record['samples_per_s']:.0f} samples/s  {record['wall_s']:.1f} s",
                           markup=False, highlight=False, soft_wrap=True)

    def start_eval(self, batches):
        self.console.print(f"{self.prefix}test pass: {batches} batch(es)", markup=False,
                           highlight=False, soft_wrap=True)

    def eval_step(self):
        pass

    def close(self):
        pass


class BarReporter:
    """The trainer's reporter as rich tasks: one bar per epoch and one for the test pass.

    ``label`` prefixes the bars (a sweep names its configuration); ``keep=False`` replaces the
    previous bar instead of leaving finished ones on screen, so parallel sweeps stay compact.
    """

    def __init__(self, progress, label: str = "", keep: bool = True):
        self.progress, self.keep, self.task = progress, keep, None
        self.prefix = f"{label} " if label else ""

    def start_epoch(self, epoch, epochs, steps, done):
        self._new_task(f"{self.prefix}epoch {epoch + 1}/{epochs}", steps, done)

    def step(self, loss, acc, samples_per_s):
        self.progress.update(self.task, advance=1, stats=f"loss {loss:.4f}  acc {100 * acc:5.1f}%"
                                                         f"  {samples_per_s:6.0f} samples/s")

    def end_epoch(self, record):
        pass

    def start_eval(self, batches):
        self._new_task(f"{self.prefix}test", batches, 0)

    def eval_step(self):
        self.progress.update(self.task, advance=1)

    def close(self):
        """Remove this reporter's bar (a finished sweep point)."""
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None

    def _new_task(self, description, total, completed):
        if not self.keep:
            self.close()
        from rich.markup import escape  # the bar's column reads markup; a label is the user's
        self.task = self.progress.add_task(escape(description), total=total, completed=completed,
                                           stats="")
