"""Training through the simulator: algorithms (CwC-FF, BSFF, BGBSFF, FF, BP), models, trainer."""

from .algorithms import ALGOS, default_lr, freeze_ends, make_algorithm
from .config import TrainConfig, TrainingError
from .trainer import Trainer

__all__ = ["ALGOS", "default_lr", "TrainConfig", "Trainer", "TrainingError", "freeze_ends",
           "make_algorithm"]
