"""The counts file a training run writes (``OpCounter.to_json(**meta)`` plus inference).

::

    {"format": "pbitsim-counts", "version": 1, "algo": "bsff", "tiles": 7,
     "arch": "cwc-mnist", "dataset": "fashion-mnist", "activation_density": 0.21,
     "layer_density": [...], "train_samples": N, "epochs": E, "test_samples": T,
     "counts": {...total training counts...}, "inference_counts": {...test pass...},
     "device": "digital:lut_width=8", "model_params": {...measured...}, "config": {...}}

``estimate --counts`` takes the density, arch, algorithm, tiles and p-bit device (an
optional spec string, ``ideal`` when absent) from it and prices the measured counts
beside the analytic estimate. ``config`` is the run's options as ``results.json`` records them
(:meth:`pbitsim.options.RunOptions.recorded`), read back by
:meth:`~pbitsim.options.RunOptions.from_recorded` (:attr:`CountsFile.options`): the training
choices the estimate takes of the run come from them (:meth:`~pbitsim.options.RunOptions.
counted_choices`). ``model_params`` holds what the run measured (the tile statistics, the
freezing schedule's live fractions, the epochs of each stage, the calibration's samples); a
file of an earlier version, without ``config``, also has the choices there.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

from ..hardware.devices import Device, parse_device
from ..options import COUNTED_CHOICES, OptionError, RunOptions
from ..rulebook import recorded_algo
from ..runfiles import read_counts

__all__ = ["CountsFile", "CountsFileError", "load_counts_file", "parse_counts", "run_arch"]


#: Largest count a counts file may hold: a run's counters are 64-bit, and a count must stay a
#: finite float when divided per sample (10**400 would not).
MAX_COUNT = 2 ** 63 - 1


class CountsFileError(ValueError):
    """A counts file that cannot be used: the message names the file and the field."""


@dataclass(frozen=True)
class CountsFile:
    path: str
    algo: str
    arch: str
    tiles: int | None
    densities: tuple[float, ...] | None     # per BSN layer, else the overall density
    train_samples: int
    epochs: int
    test_samples: int | None
    counts: dict[str, int]
    inference_counts: dict[str, int] | None
    dataset: str = ""
    device: str | None = None               # p-bit device spec of the run
    device_spec: Device | None = None       # and that device, parsed once (when read)
    model_params: dict | None = None        # the run's training choices and tile statistics
    per_layer: bool = False                 # densities came from layer_density (one per block)
    arch_file: str | None = None            # a user architecture file: its path at the run
    arch_sha256: str | None = None          # and its content hash
    options: RunOptions | None = None       # the run's options (files of earlier versions: None)

    def estimate_options(self) -> dict:
        """Keyword arguments of :func:`pbitsim.estimator.estimate` describing this run: its
        training choices (from its options; a file of an earlier version: its
        ``model_params``) and what it measured."""
        mp = self.model_params or {}
        if self.options is not None:
            out = {k: v for k, v in self.options.counted_choices().items() if v is not None}
        else:
            out = {k: mp[k] for k in (*COUNTED_CHOICES, "weight_bits", "acc_bits", "grad_bits")
                   if k in mp}
        if mp.get("input_stats"):
            out["stats"] = [tuple(v) for v in mp["input_stats"]]
        if mp.get("eval_input_stats"):
            out["eval_stats"] = [tuple(v) for v in mp["eval_input_stats"]]
        if mp.get("live"):
            out["live"] = list(mp["live"])
        if mp.get("layer_epochs"):
            out["layer_epochs"] = [int(v) for v in mp["layer_epochs"]]
        if mp.get("dfa_epochs") is not None:
            out["dfa_epochs"] = int(mp["dfa_epochs"])
        # the batch-norm calibration after training (runs before it had none), amortised over
        # the run's samples
        out["calibration_samples"] = int(mp.get("calibration_samples") or 0)
        out["run_samples"] = self.train_samples * self.epochs
        return out

    def check_arch(self, net) -> None:
        """The file's per-layer figures fit ``net`` (its own arch, loaded): one density per
        block of a p-bit run."""
        if self.per_layer and len(self.densities) != len(net.blocks):
            raise CountsFileError(f"counts file {self.path}: layer_density has "
                                  f"{len(self.densities)} values, but {net.name} has "
                                  f"{len(net.blocks)} block(s)")

    def train_per_sample(self) -> dict[str, float]:
        """Measured training counts per training sample (total / samples / epochs)."""
        per = self.train_samples * self.epochs
        return {k: v / per for k, v in self.counts.items()}

    def inference_per_sample(self) -> dict[str, float] | None:
        if self.inference_counts is None or not self.test_samples:
            return None
        return {k: v / self.test_samples for k, v in self.inference_counts.items()}


def load_counts_file(path: "str | os.PathLike") -> CountsFile:
    """Read and validate a counts file; every problem is one ``CountsFileError`` line."""
    where = os.fspath(path)
    data = read_counts(where, error=CountsFileError)
    return parse_counts(data, where)


def parse_counts(data: dict, where: str) -> CountsFile:
    """Validate a parsed counts document; ``where`` names it in the one-line errors."""
    if not isinstance(data, dict) or data.get("format") != "pbitsim-counts":
        raise CountsFileError(f"counts file {where}: 'format' must be \"pbitsim-counts\"")
    if data.get("version") != 1:
        raise CountsFileError(f"counts file {where}: unsupported version {data.get('version')!r}"
                              " (expected 1)")

    def need_str(key):
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise CountsFileError(f"counts file {where}: {key!r} must be a non-empty string")
        return value

    def need_int(key, required=True):
        value = data.get(key)
        if value is None and not required:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CountsFileError(f"counts file {where}: {key!r} must be an integer >= 1")
        return value

    def density(value, key):
        if (isinstance(value, bool) or not isinstance(value, (int, float))
                or not math.isfinite(value) or not 0.0 < value <= 1.0):
            raise CountsFileError(f"counts file {where}: {key} must be in (0, 1], "
                                  f"got {value!r}")
        return float(value)

    def count_map(key, required=True):
        value = data.get(key)
        if value is None and not required:
            return None
        if not isinstance(value, dict):
            raise CountsFileError(f"counts file {where}: {key!r} must map count keys to integers")
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_COUNT:
                shown = repr(v) if not isinstance(v, int) or v < 10 ** 30 else "a larger one"
                raise CountsFileError(f"counts file {where}: {key}[{k!r}] must be an "
                                      f"integer in 0..{MAX_COUNT}, got {shown}")
        return dict(value)

    device = data.get("device")
    if device is not None and (not isinstance(device, str) or not device.strip()):
        raise CountsFileError(f"counts file {where}: 'device' must be a p-bit device spec "
                              f"string such as \"digital:lut_width=8\", got {device!r}")
    try:
        device_spec = None if device is None else parse_device(device)
    except ValueError as exc:
        raise CountsFileError(f"counts file {where}: 'device': {exc}") from None
    densities = None
    layers = data.get("layer_density")
    if layers is not None and not isinstance(layers, list):
        raise CountsFileError(f"counts file {where}: 'layer_density' must be a list")
    if layers:     # an empty list: a run without binary units
        densities = tuple(density(v, f"layer_density[{i}]") for i, v in enumerate(layers))
    elif data.get("activation_density") is not None:
        densities = (density(data["activation_density"], "activation_density"),)
    model_params = _model_params(data.get("model_params"), where)
    tiles = need_int("tiles", required=False)
    # an earlier version's tiled CaFo run recorded cafo-dfa with its tiles: bscafo-dfa now
    algo = recorded_algo(need_str("algo"), tiles)
    counts = count_map("counts")
    inference_counts = count_map("inference_counts", required=False)
    _check_rule(where, algo, tiles, counts, inference_counts)
    return CountsFile(path=where, algo=algo, arch=need_str("arch"),
                      tiles=tiles, densities=densities,
                      train_samples=need_int("train_samples"), epochs=need_int("epochs"),
                      test_samples=need_int("test_samples", required=False),
                      counts=counts, inference_counts=inference_counts,
                      dataset=str(data.get("dataset", "")), device=device,
                      device_spec=device_spec,
                      model_params=model_params, per_layer=bool(layers),
                      options=_options(data.get("config"), algo, where),
                      **_arch_file(data, where))


def _check_rule(where: str, algo: str, tiles, counts: dict, inference_counts) -> None:
    """The recorded rule is one pbitsim knows, and the counts are that rule's: a p-bit rule
    records its tiles and samples p-bits, a real-valued one neither (a tiled run's file
    relabelled as another rule would be priced as that rule)."""
    from .algorithms import get_algorithm
    try:
        rule = get_algorithm(algo)
    except ValueError as exc:
        raise CountsFileError(f"counts file {where}: 'algo': {exc}") from None
    sampled = counts.get("pbit_sample", 0) + (inference_counts or {}).get("pbit_sample", 0)
    if rule.tiled and (tiles is None or not sampled):
        raise CountsFileError(f"counts file {where}: {algo} runs on p-bits, but the file "
                              f"records {'no tiles' if tiles is None else 'no p-bit samples'}"
                              " (not a counts file of that rule)")
    if not rule.tiled and (tiles is not None or sampled):
        raise CountsFileError(f"counts file {where}: {algo} has no p-bits, but the file "
                              f"records {'p-bit samples' if sampled else f'tiles = {tiles}'} "
                              "(not a counts file of that rule)")


def _model_params(mp, where: str) -> dict | None:
    """Validate the run's ``model_params`` (absent in files of older runs)."""
    if mp is None:
        return None
    bad = CountsFileError(f"counts file {where}: 'model_params' is malformed")
    if not isinstance(mp, dict):
        raise bad
    v = mp.get("calibration_samples")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise CountsFileError(f"counts file {where}: model_params.calibration_samples must be "
                              "an integer >= 0")
    _check_choices(mp, where, "model_params")
    for key in ("input_stats", "eval_input_stats"):
        stats = mp.get(key) or []
        if not isinstance(stats, list) or not all(
                isinstance(s, list) and len(s) == 2 and all(_finite(v) for v in s)
                and s[0] >= 0 and 0 <= s[1] <= 1 for s in stats):
            raise CountsFileError(f"counts file {where}: model_params.{key} must be "
                                  "[mean count, nonzero fraction] pairs")
    live = mp.get("live")
    if live is not None and (not isinstance(live, list) or not all(
            _finite(v) and 0 <= v <= 1 for v in live)):
        raise CountsFileError(f"counts file {where}: model_params.live must be fractions")
    return dict(mp)


def _check_choices(values: dict, where: str, part: str) -> None:
    """The training choices a file records (its ``config``, or an earlier version's
    ``model_params``) have the types the estimate takes; their values are checked by it."""
    for key in ("batch_size", "eval_samples"):
        v = values.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise CountsFileError(f"counts file {where}: {part}.{key} must be an integer >= 1")
    for key in ("weight_bits", "acc_bits", "grad_bits"):  # checked in full by the estimate
        v = values.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise CountsFileError(f"counts file {where}: {part}.{key} must be an integer")
    for key in ("grad_quant", "update", "estimator"):
        if key in values and not isinstance(values[key], str):
            raise CountsFileError(f"counts file {where}: {part}.{key} must be a string")


def _options(config, algo: str, where: str) -> RunOptions | None:
    """The run's options its ``config`` records (None in a file of an earlier version), read
    as ``results.json``'s are (:meth:`~pbitsim.options.RunOptions.from_recorded`)."""
    if config is None:
        return None
    if not isinstance(config, dict):
        raise CountsFileError(f"counts file {where}: 'config' must be a mapping of the run's "
                              "options")
    try:
        options = RunOptions.from_recorded(config)
    except (OptionError, TypeError) as exc:
        raise CountsFileError(f"counts file {where}: 'config': {exc}") from None
    _check_choices({k: getattr(options, k) for k in (*COUNTED_CHOICES, "weight_bits",
                                                      "acc_bits", "grad_bits")}, where, "config")
    if options.algo != algo:
        raise CountsFileError(f"counts file {where}: config.algo {options.algo!r} is not the "
                              f"file's algo {algo!r}")
    try:
        options.precision
    except ValueError as exc:
        raise CountsFileError(f"counts file {where}: config: {exc}") from None
    return options


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _arch_file(data: dict, where: str) -> dict:
    """The run's user architecture file and its sha256, when it recorded one."""
    path, digest = data.get("arch_file"), data.get("arch_sha256")
    if path is None and digest is None:
        return {}
    if (not isinstance(path, str) or not path or not isinstance(digest, str)
            or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest)):
        raise CountsFileError(f"counts file {where}: 'arch_file' must be a path and "
                              "'arch_sha256' its 64-digit hex sha256")
    return {"arch_file": path, "arch_sha256": digest}


def _sha256(path: Path) -> str | None:
    from ..config import MAX_TOML_BYTES
    try:
        if not path.is_file() or path.stat().st_size > MAX_TOML_BYTES:
            return None
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def run_arch(counts: CountsFile, given: "str | None" = None) -> str:
    """The architecture ``counts`` was measured on, as ``estimate --arch`` takes it.

    A built-in net by its name; a user file by its recorded path, else beside the counts file
    (the run's folder copied elsewhere), found by its recorded sha256. ``given`` (the user's
    ``--arch``) must be that network: a run's measured statistics describe its own net only.
    ``CountsFileError`` (one line) naming what to pass when the file moved or changed.
    """
    if counts.arch_file is None:
        if given is not None and given != counts.arch:
            raise CountsFileError(
                f"counts file {counts.path} measured {counts.arch}; --arch {given} would price "
                "its measured statistics on another network (leave --arch out, or estimate "
                "without --counts)")
        return counts.arch
    if given is not None:
        if _sha256(Path(given)) != counts.arch_sha256:
            raise CountsFileError(
                f"counts file {counts.path} measured {counts.arch} from {counts.arch_file} "
                f"(sha256 {counts.arch_sha256[:12]}...); --arch {given} is not that file")
        return given
    recorded = Path(counts.arch_file)
    here = Path(counts.path).resolve().parent
    candidates = [recorded, here / recorded.name]
    if not recorded.is_absolute():  # an earlier version recorded the path as given
        candidates.insert(1, here / recorded)
    changed = None
    for c in candidates:
        digest = _sha256(c)
        if digest == counts.arch_sha256:
            return str(c)
        if digest is not None and changed is None:
            changed = c
    if changed is not None:
        raise CountsFileError(
            f"counts file {counts.path}: the architecture file {changed} changed since the run "
            f"(sha256 {counts.arch_sha256[:12]}... recorded); pass --arch with the file the "
            "run trained on")
    raise CountsFileError(
        f"counts file {counts.path}: the run trained on the architecture file "
        f"{counts.arch_file}, which is not there; pass --arch with that file (sha256 "
        f"{counts.arch_sha256[:12]}...)")


def price_run_on(counts: CountsFile, hardware, table=None) -> dict:
    """A run's measured counts on a described hierarchy, beside the analytic step at the run's
    own choices and measured statistics: what ``estimate --counts FILE --hardware H`` shows,
    and what ``train --hardware`` and a sweep's hardware axis record.

    ``hardware``: a loaded :class:`~pbitsim.hardware.spec.Hardware` of the ``hierarchy``
    model; ``table``: the energy table (default: the hardware's). Returns per scope the energy
    by level (measured and analytic), the latency and throughput, the area and the placement.
    """
    from ..config import DEFAULT_DEVICE, DEFAULT_TILES
    from ..network.tiles import DEFAULT_DENSITY
    from .estimation import estimate

    options = counts.estimate_options()
    device = counts.device_spec or DEFAULT_DEVICE
    result = estimate(arch=run_arch(counts), algos=[counts.algo], table=table or hardware.table,
                      tiles=counts.tiles or DEFAULT_TILES,
                      density=list(counts.densities) if counts.densities else DEFAULT_DENSITY,
                      device=device, hardware=hardware, **options)
    cost = result.algos[0].hardware
    train = cost.price_measured(counts.train_per_sample(), result.table)
    out = {"hardware": hardware.name, "table": result.table.name,
           "train_energy_by_level_pj": train, "train_per_sample_pj": sum(train.values()),
           "analytic_train_per_sample_pj": cost.total_pj("train"),
           "train_latency_s": cost.latency_s("train"),
           "train_samples_per_s": cost.samples_per_s("train"),
           "inference_latency_s": cost.latency_s("inference"),
           "area_mm2": cost.area_mm2(), "n_pbits": cost.n_pbits,
           "placement": {k: v for k, v in cost.placement.items() if k != "blocks"}}
    infer = counts.inference_per_sample()
    if infer:
        by = cost.price_measured(infer, result.table, "inference")
        out.update(inference_energy_by_level_pj=by, inference_pj=sum(by.values()),
                   analytic_inference_pj=cost.total_pj("inference"))
    return out
