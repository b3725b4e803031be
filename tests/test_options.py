"""One set of run options (pbitsim.options.RunOptions): defaults defined once, checked once at
the edge against the rule's descriptor, carried as objects, compared with run files by one
code, and accepted by estimate()."""

import dataclasses
import pickle
import subprocess
import sys

import pytest

from pbitsim.estimator import estimate
from pbitsim.estimator.algorithms import ModelParams, get_algorithm
from pbitsim.hardware.devices import Smtj
from pbitsim.network.archs import load_arch
from pbitsim.options import OptionError, RunOptions
from pbitsim.rulebook import RULE_SPECS
from pbitsim.units import REAL, Units


def test_options_are_torch_free():
    code = ("import sys, pbitsim.options, pbitsim.sweep.grid; "
            "assert 'torch' not in sys.modules and 'numba' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_is_the_options_type():
    from pbitsim.training import TrainConfig, TrainingError
    assert TrainConfig is RunOptions and TrainingError is OptionError


def test_commands_take_their_defaults_from_the_options():
    """Every option of `pbitsim train` that is a run option has that option's default (one
    definition); the sweep's budget the same."""
    from pbitsim.cli.sweep import sweep
    from pbitsim.cli.train import train
    from pbitsim.sweep import SweepConfig
    fields = {f.name: f.default for f in dataclasses.fields(RunOptions)}
    shared = [p for p in train.params if p.name in fields]
    assert set(fields) - {p.name for p in shared} == {"arch_sha256"}  # set by the check
    for p in shared:
        assert p.default == fields[p.name], p.name
    budget = {f.name: f.default for f in dataclasses.fields(SweepConfig)}
    for p in sweep.params:
        if p.name in ("epochs", "batch_size", "table", "lr", "limit_train", "limit_test"):
            assert p.default == budget[p.name], p.name
    assert budget["table"] == fields["energy_table"]
    assert budget["batch_size"] == fields["batch_size"] and budget["epochs"] == fields["epochs"]


def test_which_rules_an_option_applies_to_is_a_descriptor_fact():
    sampled = [n for n, s in RULE_SPECS.items() if s.sampled_eval]
    quantized = [n for n, s in RULE_SPECS.items() if s.quantized_errors]
    assert sampled == ["bsff", "bgbsff"] and quantized == ["bgbsff"]
    with pytest.raises(OptionError, match=r"^--eval-samples applies to bsff/bgbsff \(sampled"):
        RunOptions.checked(algo="cwc", eval_samples=2)
    with pytest.raises(OptionError, match=r"^--update applies to bgbsff \(the other rules"):
        RunOptions.checked(algo="bsff", update="shift")
    with pytest.raises(OptionError, match=r"^--grad-bits does not apply to bgbsff"):
        RunOptions.checked(algo="bgbsff", weight_bits=8, grad_bits=8)
    for name in sampled:  # each rule the descriptors name takes the option
        assert RunOptions.checked(algo=name, eval_samples=2).eval_samples == 2
    assert RunOptions.checked(algo="bgbsff", update="shift").update == "shift"


def test_options_are_checked_once(monkeypatch):
    calls = []
    real = RunOptions._validate
    monkeypatch.setattr(RunOptions, "_validate", lambda self: (calls.append(1), real(self)))
    given = RunOptions(algo="mf", tiles=3)
    o = given.validate()
    assert o.validate() is o and o.is_checked and not given.is_checked
    assert len(calls) == 1 and o.algo == "bsmf" and given.algo == "mf"  # given stays as given
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.seed = 5  # immutable: checked options stay checked
    changed = dataclasses.replace(o, seed=5)  # a changed copy is checked again
    assert not changed.is_checked and changed.validate().seed == 5
    assert len(calls) == 2
    with pytest.raises(OptionError, match="--batch-size must be >= 2"):
        dataclasses.replace(o, batch_size=1).validate()
    copy = pickle.loads(pickle.dumps(RunOptions.checked(algo="cwc")))  # another process
    assert not copy.is_checked and copy.validate() == RunOptions.checked(algo="cwc")
    assert len(calls) == 6  # the copy is checked again there


def test_a_sweep_point_is_checked_once(monkeypatch, tmp_path):
    from pbitsim.sweep import SweepConfig
    from pbitsim.sweep.points import point_status
    calls = []
    real = RunOptions._validate
    monkeypatch.setattr(RunOptions, "_validate", lambda self: (calls.append(1), real(self)))
    cfg = SweepConfig(grid={"algo": ("cwc", "bsff"), "tiles": (1, 7)}, epochs=2)
    points = cfg.points()
    for p in points:  # the CLI's check, the point's status, its trainer: one check each
        assert cfg.options(p) is cfg.options(p)
        assert point_status(cfg, p, tmp_path) == ("new", None)
    assert len(calls) == len(points) == 3
    o = cfg.options(points[-1])
    assert (o.algo, o.tiles, o.epochs, o.arch, o.units) == ("bsff", 7, 2, "cfse-mnist",
                                                           Units(7, "ideal"))
    assert cfg.options(points[0]).tiles is None  # the base's rule default does not leak


def test_the_device_is_carried_parsed():
    o = RunOptions.checked(algo="bsff", tiles=3, device="smtj:offset_sd=0.2")
    assert o.device == "smtj:offset_sd=0.2" and isinstance(o.device_spec, Smtj)
    assert o.units.device is o.device_spec and o.units.device_spec == o.device
    assert Units(3, "smtj:offset_sd=0.2") == o.units
    assert RunOptions.checked(algo="cwc").units == REAL
    with pytest.raises(OptionError, match="^--device: "):
        RunOptions.checked(device="smtj:bogus=1")


def test_recorded_configurations_are_compared_by_one_code():
    o = RunOptions.checked(algo="cafo-dfa", tiles=7, dataset="mnist")
    recorded = o.result_fields()
    assert o.differs_from(recorded) is None and o.recorded()["algo"] == "bscafo-dfa"
    old = {**recorded, "algo": "cafo-dfa"}  # an earlier version's name of the tiled form
    assert o.differs_from(old) is None
    assert o.differs_from({**recorded, "seed": 3}) == ("seed", 3, 0)
    real = RunOptions.checked(algo="cwc")
    assert real.differs_from({**real.result_fields(), "tiles": 7}) is None  # unused by it


def test_recorded_options_read_back():
    o = RunOptions.checked(algo="bgbsff", tiles=3, device="smtj:offset_sd=0.2", weight_bits=8,
                           update="shift", limit_train=500)
    back = RunOptions.from_recorded(o.recorded())
    assert back == o and back.precision == o.precision and back.units == o.units
    back = back.validate()
    assert back == o
    old = {k: v for k, v in o.recorded().items() if k != "calibration_samples"}
    assert RunOptions.from_recorded({**old, "a_later_option": 1}).calibration_samples is None
    dfa = RunOptions.from_recorded({"algo": "cafo-dfa", "tiles": 7})  # an earlier version's
    assert dfa.algo == "bscafo-dfa" and dfa.differs_from({"algo": "cafo-dfa", "tiles": 7},
                                                         {"algo": "bscafo-dfa"}) is None
    with pytest.raises(OptionError, match="must be a mapping"):
        RunOptions.from_recorded(["bsff"])


@pytest.mark.parametrize("kw", [dict(algo="bsff", tiles=3, device="smtj", epochs=2,
                                     limit_train=1000),
                                dict(algo="mf", tiles=2, dataset="mnist"),
                                dict(algo="cwc", weight_bits=8, acc_bits=16, batch_size=64),
                                dict(algo="bgbsff", grad_quant="sign", update="shift")])
def test_estimate_takes_run_options(kw):
    o = RunOptions.checked(**kw)
    p = o.precision
    by_keywords = estimate(o.arch, [o.algo], o.energy_table, o.tiles or 7,
                           batch_size=o.batch_size, train_samples=o.limit_train,
                           epochs=o.epochs, device=o.device, grad_quant=o.grad_quant,
                           update=o.update, estimator=o.estimator, schedule=o.schedule,
                           dataset=o.dataset, dfa_epochs=o.dfa_epochs,
                           weight_bits=p.weight_bits, acc_bits=p.acc_bits,
                           grad_bits=p.grad_bits)
    assert estimate(options=o).to_dict() == by_keywords.to_dict()
    with pytest.raises(TypeError, match="give batch_size or options"):
        estimate(options=o, batch_size=3)


def test_walks_take_m_from_the_units():
    net = load_arch("cwc-mnist")
    walk = get_algorithm("bsff")
    by_units = ModelParams(units=Units.pbit(3, "smtj"), batch_size=8)
    assert by_units.tiles == 3
    rows = [r.total() for r in walk.training_step(net, by_units)]
    assert rows == [r.total() for r in walk.training_step(net, ModelParams(tiles=3, batch_size=8))]
    assert rows != [r.total() for r in walk.training_step(net, ModelParams(tiles=7, batch_size=8))]
    with pytest.raises(ValueError, match="tiles=5 but units of 3"):
        ModelParams(tiles=5, units=Units.pbit(3))


def test_the_sweep_carries_the_datapath_parsed(monkeypatch):
    """A precision label is parsed once, where it enters (the option's text, or a label given
    in a grid); the points, their options, their estimate rows and sweep.json take it from
    the object."""
    import pbitsim.precision as precision
    from pbitsim.sweep import SweepConfig, estimate_rows
    from pbitsim.sweep.grid import axis
    parsed = axis("precision").parse(("fp32,w8,w4a16g4",))
    assert all(isinstance(p, precision.Precision) for p in parsed)
    assert [p.label() for p in parsed] == ["fp32", "w8a32", "w4a16g4"]
    assert axis("precision").default_values == (precision.FP32,)  # parsed once, kept
    calls = []
    real = precision.parse_label
    monkeypatch.setattr(precision, "parse_label", lambda text: (calls.append(text), real(text))[1])
    cfg = SweepConfig(grid={"tiles": (7,), "precision": ("fp32", "w8a16g8")})  # labels
    assert calls == ["fp32", "w8a16g8"]
    points = cfg.points()
    assert [p.key for p in points] == ["ideal-m7-s0", "ideal-m7-w8a16g8-s0"]
    assert cfg.options(points[1]).precision == points[1].precision == real("w8a16g8")
    assert [r["precision"] for r in estimate_rows(cfg, 0.15)] == ["fp32", "w8a16g8"]
    assert cfg.meta()["precision"] == ["fp32", "w8a16g8"]
    assert calls == ["fp32", "w8a16g8"]


def test_pbit_stream_is_recorded_and_read_back():
    from pbitsim.options import RunOptions
    from pbitsim.seeds import EARLIER_PBIT_UNIFORMS, PBIT_UNIFORMS
    cases = {("bsff", None, "ideal"): PBIT_UNIFORMS, ("bsff", 3, "smtj:offset_sd=0.2"): PBIT_UNIFORMS,
             ("mf", 3, "ideal"): PBIT_UNIFORMS, ("bsff", 3, "digital"): None,
             ("cwc", None, "ideal"): None, ("mf", None, "ideal"): None}
    for (algo, tiles, device), want in cases.items():
        opt = RunOptions(algo=algo, tiles=tiles, device=device)
        opt = opt.validate()
        assert opt.pbit_stream == want, (algo, tiles, device)
        rec = opt.recorded()
        assert rec["pbit_stream"] == want and opt.result_fields()["pbit_stream"] == want
        assert opt.differs_from(rec) is None
        # a file of an earlier pbitsim records none: its p-bits drew the earlier uniforms
        old = {k: v for k, v in rec.items() if k != "pbit_stream"}
        assert opt.differs_from(old) == (None if want is None else
                                         ("pbit_stream", EARLIER_PBIT_UNIFORMS, want))
        assert RunOptions.from_recorded(rec).recorded() == rec


@pytest.mark.parametrize("flag, value, message", [
    ("--tiles", "0", "--tiles must be >= 1, got 0"),
    ("--tiles", "65", "--tiles must be in 1..64, got 65"),
    ("--batch-size", "1", "--batch-size must be >= 2 (batch norm needs two samples), got 1"),
    ("--epochs", "0", "--epochs must be >= 1, got 0"),
    ("--device", "quantum", "--device: unknown p-bit device 'quantum'"),
    ("--device", "smtj:bogus=1", "--device: device 'smtj:bogus=1': smtj has no option 'bogus'"),
    ("--table", "nope", "--table: unknown table 'nope'"),
])
def test_one_mistake_is_one_error_in_every_command(tmp_path, flag, value, message):
    """train, sweep (trained and estimate-only) and estimate check a shared option with the one
    check (check_option), before any data is read: the same line for the same mistake."""
    from click.testing import CliRunner
    from pbitsim.cli.main import cli
    commands = [["train", "--data-dir", str(tmp_path / "none")],
                ["sweep", "--out", str(tmp_path / "s")],
                ["sweep", "--estimate-only", "--out", str(tmp_path / "e")], ["estimate"]]
    for command in commands:
        r = CliRunner().invoke(cli, [*command, flag, value])
        lines = r.output.strip().splitlines()
        assert r.exit_code == 2 and len(lines) == 1, (command, r.output)
        assert lines[0].startswith(f"Error: {message}"), (command, lines[0])
    assert not (tmp_path / "s").exists() and not (tmp_path / "e").exists()


@pytest.mark.parametrize("args, message", [
    (["--algo", "cwc", "--update", "shift"], "--update applies to bgbsff (the other rules"),
    (["--algo", "cwc", "--eval-samples", "3"], "--eval-samples applies to bsff/bgbsff"),
    (["--algo", "bsff", "--dfa-epochs", "3"], "--dfa-epochs applies to cafo-dfa and bscafo-dfa"),
    (["--algo", "mf", "--dataset", "mnist", "--weight-bits", "8"],
     "--weight-bits applies to bp, ff, cwc, bsff, bgbsff, not mf"),
])
def test_an_option_no_rule_takes_is_the_same_error_in_train_and_estimate(tmp_path, args,
                                                                         message):
    """Whether an option applies is the descriptors' (check_applies): train refuses it for its
    rule, estimate when none of its rules takes it (it priced them as if not given)."""
    from click.testing import CliRunner
    from pbitsim.cli.main import cli
    for command in (["train", "--data-dir", str(tmp_path)], ["estimate"]):
        r = CliRunner().invoke(cli, [*command, *args])
        assert r.exit_code == 2 and r.output.startswith(f"Error: {message}"), r.output
    # a list with one rule that takes it is fine
    r = CliRunner().invoke(cli, ["estimate", "--algo", "cwc,bgbsff", "--update", "shift"])
    assert r.exit_code == 0, r.output


def test_estimate_checks_the_shared_options_as_runs_do():
    from pbitsim.options import check_option
    for name, value in (("batch_size", 1), ("eval_samples", 0), ("update", "sgd"),
                        ("grad_quant", "binary"), ("estimator", "reinforce")):
        with pytest.raises(OptionError) as run_error:
            check_option(name, value)
        with pytest.raises(OptionError) as estimate_error:
            estimate(arch="cwc-mnist", algos=["bgbsff"], **{name: value})
        assert str(estimate_error.value) == str(run_error.value)
    assert check_option("device", "smtj:offset_sd=0.2") == Smtj(offset_sd=0.2)


def test_estimate_takes_the_datapath_as_an_object():
    from pbitsim.precision import parse_label
    w8 = parse_label("w8a16g8")
    assert estimate(arch="cwc-mnist", algos=["bsff"], precision=w8).to_dict() == estimate(
        arch="cwc-mnist", algos=["bsff"], weight_bits=8, acc_bits=16, grad_bits=8).to_dict()
    with pytest.raises(TypeError, match="not both"):
        estimate(arch="cwc-mnist", algos=["bsff"], precision=w8, weight_bits=8)
    with pytest.raises(TypeError, match="must be a Precision"):
        estimate(arch="cwc-mnist", algos=["bsff"], precision="w8")
