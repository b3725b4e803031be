"""Progress of the trainer's reporter calls, shared by ``train`` and ``sweep``: rich bars on a
terminal, lines otherwise (a log file, a pipe, a scheduler's output): one per finished epoch or
stage, and one every :data:`LINE_INTERVAL_S` within a long one."""

from __future__ import annotations

import time

#: Seconds between progress lines within an epoch when the output is not a terminal.
LINE_INTERVAL_S = 30.0


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
    """The trainer's reporter as plain lines: one per finished epoch (or stage: a greedy rule
    names its layer or predictor), one every ``interval_s`` within an epoch, and one per test
    pass."""

    def __init__(self, console, label: str = "", interval_s: float = LINE_INTERVAL_S,
                 clock=time.monotonic):
        self.console, self.epochs, self.name = console, 0, ""
        self.prefix = f"{label} " if label else ""
        self.interval_s, self.clock = interval_s, clock
        self.steps = self.done = 0
        self.last = 0.0

    def _print(self, text: str) -> None:
        self.console.print(f"{self.prefix}{text}", markup=False, highlight=False,
                           soft_wrap=True)

    def start_epoch(self, epoch, epochs, steps, done, name=None):
        self.epochs, self.steps, self.done = epochs, steps, done
        self.name = name or f"epoch {epoch + 1}/{epochs}"
        self.last = self.clock()

    def step(self, loss, acc, samples_per_s):
        self.done += 1
        now = self.clock()
        if now - self.last >= self.interval_s and self.done < self.steps:
            self.last = now
            self._print(f"{self.name}: step {self.done}/{self.steps}  loss {loss:.4f}  "
                        f"train acc {100 * acc:.1f}%  {samples_per_s:.0f} samples/s")

    def end_epoch(self, record):
        self._print(f"{self.name}: loss {record['loss']:.4f}  train acc "
                    f"{100 * record['train_acc']:.1f}%  {record['samples_per_s']:.0f} samples/s  "
                    f"{record['wall_s']:.1f} s")

    def start_eval(self, batches):
        self._print(f"test pass: {batches} batch(es)")

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

    def start_epoch(self, epoch, epochs, steps, done, name=None):
        self._new_task(f"{self.prefix}{name or f'epoch {epoch + 1}/{epochs}'}", steps, done)

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
