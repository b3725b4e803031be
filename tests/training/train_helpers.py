"""Helpers shared by the training tests."""


class StopAfter:
    """A reporter that asks the trainer to stop after ``n`` steps (``trainer`` set by the test)."""

    def __init__(self, n):
        self.n, self.trainer = n, None

    def start_epoch(self, *a):
        pass

    def step(self, *a):
        self.n -= 1
        if self.n == 0:
            self.trainer.stop_requested = True

    def end_epoch(self, record):
        pass

    def start_eval(self, batches):
        pass

    def eval_step(self):
        pass
