"""Shared fixtures: small slices of the synthetic MNIST and CIFAR-10 (tests/conftest.py), and of
the real MNIST for the tests whose thresholds or pinned values were set on it (skip when absent)."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # train_helpers


def _slice(name, folder, n_train, n_test):
    """``name`` read from ``folder`` by the package's loader, cut to the first images."""
    from pbitsim.datasets import load_dataset
    ds = load_dataset(name, folder)
    return dataclasses.replace(ds, train_x=ds.train_x[:n_train], train_y=ds.train_y[:n_train],
                               test_x=ds.test_x[:n_test], test_y=ds.test_y[:n_test])


@pytest.fixture(scope="session")
def mnist_small(mnist_dir):
    """The synthetic MNIST: 1,000 training and 500 test images."""
    return _slice("mnist", mnist_dir, 1000, 500)


@pytest.fixture(scope="session")
def real_mnist_small(real_mnist_dir):
    """The real MNIST cut to 1,000 training and 500 test images."""
    return _slice("mnist", real_mnist_dir, 1000, 500)


@pytest.fixture(scope="session")
def cifar_small(synthetic_data):
    """The synthetic CIFAR-10: 200 training and 64 test images."""
    return _slice("cifar10", synthetic_data / "cifar10", 200, 64)
