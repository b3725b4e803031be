"""What every part of :mod:`pbitsim.datasets` shares: the error, the :class:`Dataset` record and
the static facts about the three datasets (names, classes, statistics, official md5s, mirrors)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

DATASETS = ("mnist", "fashion-mnist", "cifar10")

ProgressFn = Callable[[str, int, Optional[int]], None]
"""``progress(description, done_bytes, total_bytes_or_None)``, called while downloading."""


class DatasetError(ValueError):
    """A dataset is missing or corrupt; the message is one line and names the file."""


# --------------------------------------------------------------------------------------------
# Static facts about the datasets
# --------------------------------------------------------------------------------------------

_ALIASES = {
    "mnist": "mnist",
    "fashion-mnist": "fashion-mnist",
    "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist",
    "fmnist": "fashion-mnist",
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar_10": "cifar10",
}

# Subfolders of a parent data_dir that may hold a dataset (relative paths, tried in order).
_SUBDIRS = {
    "mnist": ("mnist", "MNIST", "MNIST/raw", "mnist/raw"),
    "fashion-mnist": ("fashion-mnist", "fashion_mnist", "FashionMNIST", "FashionMNIST/raw",
                      "fashion-mnist/raw"),
    "cifar10": ("cifar10", "cifar-10", "CIFAR10", "cifar10/raw"),
}

_DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

_CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                "truck"),
}
_MEAN_STD = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion-mnist": ((0.5,), (0.5,)),
    "cifar10": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
_PRETTY = {"mnist": "MNIST", "fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}

# IDX files: key -> (stem, is_images, official count)
_IDX_FILES = {
    "train_x": ("train-images-idx3-ubyte", True, 60000),
    "train_y": ("train-labels-idx1-ubyte", False, 60000),
    "test_x": ("t10k-images-idx3-ubyte", True, 10000),
    "test_y": ("t10k-labels-idx1-ubyte", False, 10000),
}
# md5 of the decoded (gunzipped) IDX files; identical for every faithful copy.
_IDX_CONTENT_MD5 = {
    "mnist": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}

_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST = ("test_batch",)
_CIFAR_BIN_MD5 = {
    "data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
    "data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
    "data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
    "data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
    "data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
    "test_batch.bin": "803d5f7f4d78ea53de84dbe85f74fb6d",
}
_CIFAR_PY_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
_CIFAR_RECORD = 1 + 3 * 32 * 32
_CIFAR_BATCH = 10000

# Downloads: filename -> md5 of the file as served, and the mirrors (tried in order).
DOWNLOADS = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
    "cifar10": {
        "cifar-10-binary.tar.gz": "c32a1d4ab5d03f1284b67883e8d87530",
    },
}
MIRRORS = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    "cifar10": ("https://www.cs.toronto.edu/~kriz/",),
}


# --------------------------------------------------------------------------------------------
# The Dataset record
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """An in-memory image classification dataset.

    ``train_x``/``test_x``: uint8 ``[N, C, H, W]``; ``train_y``/``test_y``: int64 ``[N]``;
    ``mean``/``std``: per-channel statistics used by :meth:`normalized` on ``x / 255``.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple
    mean: tuple
    std: tuple
    source: str = ""  # where the data was read from (informational)

    def __post_init__(self):
        object.__setattr__(self, "classes", tuple(self.classes))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 [N, C, H, W], got {x.dtype} {x.shape}")
            if y.dtype != np.int64 or y.ndim != 1 or y.shape[0] != x.shape[0]:
                raise ValueError(f"{split}_y must be int64 [{x.shape[0]}], got {y.dtype} {y.shape}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"train/test image shapes differ: {self.train_x.shape[1:]} vs "
                             f"{self.test_x.shape[1:]}")
        c = self.train_x.shape[1]
        if len(self.mean) != c or len(self.std) != c:
            raise ValueError(f"mean/std need {c} channel values")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple:
        """``(C, H, W)``."""
        return tuple(self.train_x.shape[1:])

    def normalized(self, x: np.ndarray) -> np.ndarray:
        """``(x / 255 - mean[c]) / std[c]`` as float32, for uint8 ``x`` shaped ``[..., C, H, W]``."""
        x = np.asarray(x)
        if x.dtype != np.uint8:
            raise TypeError(f"normalized() expects uint8 pixels, got {x.dtype}")
        c = len(self.mean)
        if x.ndim < 3 or x.shape[-3] != c:
            raise ValueError(f"normalized() expects [..., {c}, H, W], got shape {x.shape}")
        mean = np.asarray(self.mean, dtype=np.float64)
        std = np.asarray(self.std, dtype=np.float64)
        scale = (1.0 / (255.0 * std)).astype(np.float32)[:, None, None]
        shift = (mean / std).astype(np.float32)[:, None, None]
        out = x.astype(np.float32)
        out *= scale
        out -= shift
        return out

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={self.train_x.shape[0]}, test={self.test_x.shape[0]},"
                f" shape={self.input_shape}, classes={self.num_classes}, source={self.source!r})")
