"""Loaded before every test module: import pbitsim before anything imports torch.

``pbitsim/__init__`` sets ``OMP_WAIT_POLICY=PASSIVE`` (unless set), which the OpenMP runtime
reads once when torch loads it. A test module importing torch first would leave the workers
spinning; on the shared 2-core machine that made a training step 5-20x slower (measured: an MF
step of the 784-1000-1000 net at batch 128, 0.18-0.62 s spinning vs 0.03 s passive).
"""

import pbitsim  # noqa: F401
