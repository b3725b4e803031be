"""Shared fixtures: a small slice of the real MNIST (skips when the data is absent)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # train_helpers

SHARED_DATA = Path(os.environ.get("PBITSIM_TEST_DATA")
                   or Path(__file__).resolve().parents[2].parent / "shared" / "data")
MNIST_DIR = SHARED_DATA / "mnist"


@pytest.fixture(scope="session")
def mnist_small():
    """MNIST cut to 1,000 training and 500 test images (the loader reads the real files)."""
    if not MNIST_DIR.exists():
        pytest.skip(f"MNIST not available at {MNIST_DIR}")
    import dataclasses

    from pbitsim.datasets import load_dataset
    ds = load_dataset("mnist", MNIST_DIR)
    return dataclasses.replace(ds, train_x=ds.train_x[:1000], train_y=ds.train_y[:1000],
                               test_x=ds.test_x[:500], test_y=ds.test_y[:500])
