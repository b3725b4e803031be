"""Limits and defaults shared by every command and layer (pure Python: no numpy, numba, torch).

One place for each number a user can hit: the kernels, the trainer, the estimator and the sweep
import these instead of repeating them. The Numba kernels' tunables (their block sizes and
thresholds) are here too, at the end: ``KERNEL_*``.
"""

from __future__ import annotations

__all__ = ["MAX_TILES", "DEFAULT_TILES", "DEFAULT_DEVICE", "DATASET_INPUTS", "check_tiles", "MAX_JSON_BYTES",
           "MAX_TOML_BYTES", "MAX_CHECKPOINT_BYTES", "MAX_DATASET_FILE_BYTES", "BACKENDS",
           "DEFAULT_BACKEND", "SCHEDULER_CONNECT_TIMEOUT_S", "POINT_LOCK_WAIT_S", "MIN_BITS",
           "MAX_BITS", "DEFAULT_FIXED_ACC_BITS", "MAX_SEED", "check_seed",
           "machine_memory_bytes", "MAX_THREADS", "check_threads", "threads_note",
           "CALIBRATION_SAMPLES", "calibration_batches", "KERNEL_COL_BLOCK", "KERNEL_ROW_BLOCK",
           "KERNEL_STATS_PLANES", "KERNEL_GRAD_CACHE_BYTES", "KERNEL_CHUNK", "KERNEL_Z_MARGIN"]

#: Largest tile count M per unit. The samplers' tile offsets go up to M - 1/2, and every exp()
#: they take must stay inside float32 range; counts are stored as uint8.
MAX_TILES = 64
#: The tile count of the BSFF paper's main results.
DEFAULT_TILES = 7
#: The p-bit device of tiled units when none is given (:mod:`pbitsim.hardware.devices`).
DEFAULT_DEVICE = "ideal"
#: Input shape (channels, height, width) and class count of each built-in data set, known
#: before its files are read (commands check an architecture against them up front).
DATASET_INPUTS = {"mnist": ((1, 28, 28), 10), "fashion-mnist": ((1, 28, 28), 10),
                  "cifar10": ((3, 32, 32), 10)}

# Size caps of the files pbitsim reads (a larger file is refused before it is read, so
# /dev/zero or a huge file given by mistake is one error line, not an exhausted memory).
#: JSON documents: counts files, results, sweep points (pbitsim's own are a few KiB).
MAX_JSON_BYTES = 16 << 20
#: TOML data: energy tables and architectures (the shipped ones are a few KiB).
MAX_TOML_BYTES = 1 << 20
#: A training checkpoint (the CIFAR-10 CwC ConvNet with Adam state is a few MiB).
MAX_CHECKPOINT_BYTES = 1 << 30
#: One dataset file or archive member read whole (a CIFAR-10 batch is 30.7 MB).
MAX_DATASET_FILE_BYTES = 256 << 20


def _check_int(value, name: str, lo: int, hi: int, expected: str = "an integer") -> int:
    """``value`` (an integer, not a bool) as an int in ``lo..hi``, else ``ValueError`` with one
    readable line: ``<name> must be <expected>`` or ``<name> must be in lo..hi``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    n = int(value.__index__())
    if not lo <= n <= hi:
        raise ValueError(f"{name} must be in {lo}..{hi}, got {n}")
    return n


def check_tiles(tiles) -> int:
    """``tiles`` as an int in ``1..MAX_TILES``, else ``ValueError`` with one readable line."""
    return _check_int(tiles, "tiles", 1, MAX_TILES)


#: Largest training seed of every command (``train --seed``, ``sweep --seeds``): each consumer
#: takes it (torch.manual_seed, numpy's generators, the kernels' 64-bit mixer, a sweep's
#: folder names), and results are reproducible from it alone.
MAX_SEED = 2 ** 31 - 1


def check_seed(seed, option: str = "--seed") -> int:
    """``seed`` as an int in ``0..MAX_SEED``, else ``ValueError`` with one readable line."""
    return _check_int(seed, option, 0, MAX_SEED, f"an integer in 0..{MAX_SEED}")


#: How the index layers (BSNConv2d, BSNLinear) run: ``index`` the index-and-accumulate kernels
#: (the reference), ``dense`` torch's float product on the tile counts (same sums up to float
#: reassociation, the kernels' counts from their closed forms).
BACKENDS = ("dense", "index")
#: Training's default: dense (measured faster; see the README's speed paragraph).
DEFAULT_BACKEND = "dense"

#: ``pbitsim sweep --scheduler tcp://...``: how long the client tries to reach the scheduler
#: before giving up (one error line, nothing trained).
SCHEDULER_CONNECT_TIMEOUT_S = 10
#: A cluster point rescheduled after its worker was lost waits this long for the lost process's
#: lock on the point's folder (a dead process's lock goes at once; on a network file system,
#: or from a worker only cut off from the scheduler, it can take a while), then fails.
POINT_LOCK_WAIT_S = 120

#: Widths of the fixed-point datapath (``--weight-bits``, ``--acc-bits``, ``--grad-bits``):
#: a signed word needs a sign bit and one magnitude bit; the integer kernels hold words in
#: int64. A weight or gradient word must also fit its accumulator (checked with these).
MIN_BITS = 2
MAX_BITS = 64
#: The accumulator width when ``--weight-bits`` is given without ``--acc-bits`` (int32 MACs:
#: the common int8 inference datapath).
DEFAULT_FIXED_ACC_BITS = 32

#: Most threads a run may ask for (``--threads``). More than the machine's CPUs is allowed (the
#: thread count is part of a run's result, so a run recorded elsewhere can be reproduced), and
#: said in one line (:func:`threads_note`).
MAX_THREADS = 1024


def check_threads(threads, option: str = "--threads") -> int:
    """``threads`` as an int in ``1..MAX_THREADS``, else ``ValueError`` with one line."""
    return _check_int(threads, option, 1, MAX_THREADS)


def threads_note(threads, option: str = "--threads") -> str | None:
    """One line when ``threads`` is more than the CPUs this process may run on, else None."""
    import os
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if threads is None or threads <= cpus:
        return None
    return (f"{option} {threads} is more than the {cpus} CPU(s) here: the run uses {threads} "
            "threads as asked (its float sums depend on the count), sharing the CPUs")


def machine_memory_bytes() -> int | None:
    """The memory a run can use: physical memory, or a smaller cgroup limit (None: unknown).

    The one limit a command checks the sizes it will allocate against, before any work
    (:meth:`pbitsim.options.RunOptions.validate`)."""
    import os
    limits = []
    try:
        limits.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        pass
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(name, encoding="ascii") as fh:
                text = fh.read().strip()
        except OSError:
            continue
        if text.isdigit():
            limits.append(int(text))
    limits = [v for v in limits if v > 0]
    return min(limits) if limits else None


#: Largest cache of frozen layers' outputs a greedy stage keeps (bytes; see
#: :mod:`pbitsim.training.frozen`): CaFo's first block on all of MNIST holds 60,000 x 6,272
#: floats (1.5 GB). Above it the frozen layers are recomputed on every step.
FROZEN_CACHE_MAX_BYTES = 4 << 30

#: Batch-norm statistics at the tested weights: after training, every running batch-norm
#: statistic is recomputed at the final weights from this many training samples (a seeded,
#: order-fixed subset; all of them when the set is smaller), forward passes in training mode
#: in batches of the run's batch size, each batch weighted equally. Training work: counted by
#: ``pbitsim train`` and modelled by ``pbitsim estimate`` (amortised over the run's samples).
#: 4,096 MNIST samples give every channel's mean and variance to well under 1% (README).
CALIBRATION_SAMPLES = 4096


def calibration_batches(train_samples: int, batch_size: int,
                        samples: int = CALIBRATION_SAMPLES) -> list[int]:
    """Sizes of the calibration batches of a run with ``train_samples`` training samples: up to
    ``samples`` of them in batches of ``batch_size``, a trailing batch of one dropped (batch
    norm needs two), as the training epochs drop it."""
    n = max(0, min(int(samples), int(train_samples)))
    out = [batch_size] * (n // batch_size)
    if n % batch_size >= 2:
        out.append(n % batch_size)
    return out


# ------------------------------------------------------------------------- kernel tunables
# The Numba kernels (pbitsim.kernels) read these when they compile and keep them in their
# on-disk cache (``cache=True``), which Numba keys on each kernel's own source file: after
# changing a value, clear the cache (``rm -r pbitsim/kernels/__pycache__``) or it is not seen.
# Results do not depend on a value marked "speed only" (the sums' order is fixed by the data,
# not the blocks); the others are part of the kernels' definition: changing one changes bits.

#: Index products (``index_matmul``, ``index_matmul_xt``): output columns per parallel task.
#: 2,048 fp32 accumulators (8 KB) stay in L1 while the weight rows stream past. Speed only.
KERNEL_COL_BLOCK = 2048
#: Index products: output rows per parallel task (within a column block). Speed only.
KERNEL_ROW_BLOCK = 8
#: Tap statistics (``matmul_tap_stats``, ``conv2d_tap_stats``): activation planes summed per
#: parallel task. Integer sums, fixed task size: speed only, on any thread count.
KERNEL_STATS_PLANES = 16
#: ``index_conv2d_weight_grad``: the images of one run, whose output gradients (fp32) fit in
#: this many bytes (kept in L2), are summed into the weight gradient before the next run.
#: Changes bits: each run's sum is added to the gradient as one float partial sum.
KERNEL_GRAD_CACHE_BYTES = 512 * 1024
#: Samplers and tiled means (``bsn_sample``, ``tiled_logistic``, ``tiled_mean``...): elements
#: per parallel task. The draws are counter-based (an element's index): speed only.
KERNEL_CHUNK = 4096
#: Samplers and tiled means: pre-activations are clamped to [min offset - margin, max offset +
#: margin]; beyond 20 of every tile offset a p-bit is stuck at 0 or 1 to within 2**-28, and
#: every exp argument stays in the kernels' float32 exp range (MAX_TILES - 1 + margin < 87).
#: Changes bits.
KERNEL_Z_MARGIN = 20.0
