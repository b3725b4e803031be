"""Loaded before every test module: import pbitsim before anything imports torch, and the data.

``pbitsim/__init__`` sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set), which the OpenMP runtime
reads once when torch loads it. A test module importing torch first would leave the workers
spinning; on the shared 2-core machine that made a training step 5-20x slower (measured: an MF
step of the 784-1000-1000 net at batch 128, 0.18-0.62 s spinning vs 0.03 s passive).

Data. Training, sweep and CLI tests need a few hundred images, not MNIST: the session writes a
small, seeded MNIST (IDX, gzipped) and CIFAR-10 (the binary tarball) into a temporary folder
(:func:`synthetic_data`), and the tests load them through :func:`pbitsim.datasets.load_dataset`'s
ordinary checks (magic, sizes, counts, labels, gzip CRC; the official md5s apply only to files
of the official size, so these pass unchanged). The images have class structure (a fixed stroke
pattern per class, shifted, thinned and salted per image), so a rule that learns beats chance
by far on them. Only the tests that need the real files (accuracy floors set on real MNIST,
values recorded on it, the checksums of the real files) use :func:`real_data`, which skips when
the files are absent: ``$PBITSIM_TEST_DATA``, else ``../shared/data`` beside the checkout.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

import pbitsim  # noqa: F401

# the suite's helper modules (naive.py, the references; cluster_hold.py) import by name
sys.path.insert(0, str(Path(__file__).parent))

REAL_DATA = Path(os.environ.get("PBITSIM_TEST_DATA")
                 or Path(__file__).resolve().parents[1].parent / "shared" / "data")

# the synthetic sets' sizes: mnist_small takes 1,000 / 500, cifar_small 200 / 64
SYNTHETIC_MNIST = (1000, 500)          # train, test images
SYNTHETIC_CIFAR_PER_BATCH = (40, 100)  # images per data_batch_1..5, in test_batch


def real_data(sub: str) -> Path:
    """The real dataset folder ``sub`` (``"mnist"``, ``"cifar10"``), or skip the test."""
    path = REAL_DATA / sub
    if not path.is_dir() or not any(path.iterdir()):
        pytest.skip(f"real {sub} data not available at {path} (set PBITSIM_TEST_DATA)")
    return path


def _prototypes(rng, n_classes: int, channels: int, side: int) -> np.ndarray:
    """One pattern per class in [0, 1]: smoothed noise, its brightest 30% inside a centred box."""
    noise = rng.standard_normal((n_classes, channels, side, side))
    k = np.array([1, 4, 6, 4, 1], float) / 16  # binomial blur, applied 3 times on each axis
    for _ in range(3):
        for axis in (-1, -2):
            pad = [(0, 0)] * 4
            pad[axis] = (2, 2)
            p = np.pad(noise, pad)
            noise = sum(w * np.take(p, range(i, i + side), axis=axis) for i, w in enumerate(k))
    box = np.zeros((side, side), bool)
    m = side // 7
    box[m:side - m, m:side - m] = True
    out = np.zeros_like(noise)
    for c in range(n_classes):
        for ch in range(channels):
            v = noise[c, ch]
            cut = np.quantile(v[box], 0.7)
            out[c, ch] = (v > cut) & box
    return out


def _images(rng, protos: np.ndarray, labels: np.ndarray, background: int) -> np.ndarray:
    """Per image: its class pattern shifted by up to 2 pixels, 20% of its pixels dropped, 3%
    salt, brightness 150-255 over ``background``; uint8 ``[N, C, H, W]``."""
    n = labels.shape[0]
    x = protos[labels].copy()
    for i in range(n):
        x[i] = np.roll(x[i], tuple(rng.integers(-2, 3, 2)), axis=(-2, -1))
    x *= rng.random(x.shape) > 0.2
    x = np.maximum(x, rng.random(x.shape) < 0.03)
    bright = rng.integers(150, 256, (n, 1, 1, 1))
    base = rng.integers(0, background + 1, x.shape) if background else 0
    return np.clip(base + x * bright, 0, 255).astype(np.uint8)


def _labels(rng, n: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % 10).astype(np.uint8)


def _idx(arr: np.ndarray) -> bytes:
    return (struct.pack(">I", 0x800 | arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
            + arr.tobytes())


def write_synthetic_mnist(d: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """The four gzipped IDX files of an MNIST-layout set (28x28 grey, labels 0-9)."""
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, 10, 1, 28)
    d.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = _labels(rng, n)
        x = _images(rng, protos, y, background=0)[:, 0]
        (d / f"{split}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(x), mtime=0))
        (d / f"{split}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(y), mtime=0))


def write_synthetic_cifar(d: Path, per_batch: int, n_test: int, seed: int = 1) -> None:
    """``cifar-10-binary.tar.gz`` as released: data_batch_1..5.bin and test_batch.bin."""
    rng = np.random.default_rng(seed)
    protos = _prototypes(rng, 10, 3, 32)
    d.mkdir(parents=True, exist_ok=True)
    with tarfile.open(d / "cifar-10-binary.tar.gz", "w:gz") as tf:
        for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [
                ("test_batch", n_test)]:
            y = _labels(rng, n)
            x = _images(rng, protos, y, background=60).reshape(n, -1)
            data = np.concatenate([y[:, None], x], axis=1).tobytes()
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}.bin")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="session")
def synthetic_data(tmp_path_factory) -> Path:
    """A data folder holding ``mnist/`` and ``cifar10/`` (see the module docstring)."""
    root = tmp_path_factory.mktemp("data")
    write_synthetic_mnist(root / "mnist", *SYNTHETIC_MNIST)
    write_synthetic_cifar(root / "cifar10", *SYNTHETIC_CIFAR_PER_BATCH)
    return root


@pytest.fixture(scope="session")
def mnist_dir(synthetic_data) -> str:
    """The synthetic MNIST folder, for ``--data-dir``."""
    return str(synthetic_data / "mnist")


@pytest.fixture(scope="session")
def real_mnist_dir() -> str:
    """The real MNIST folder (skips when absent)."""
    return str(real_data("mnist"))


@pytest.fixture(scope="session")
def real_cifar_dir() -> str:
    """The real CIFAR-10 folder (skips when absent)."""
    return str(real_data("cifar10"))
