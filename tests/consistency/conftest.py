import os
from pathlib import Path

import pytest

MNIST_DIR = Path(os.environ.get("PBITSIM_TEST_DATA")
                 or Path(__file__).resolve().parents[2].parent / "shared" / "data") / "mnist"


@pytest.fixture(scope="session")
def mnist_dir():
    if not MNIST_DIR.exists():
        pytest.skip(f"MNIST not available at {MNIST_DIR}")
    return str(MNIST_DIR)
