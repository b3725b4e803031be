"""The rules' descriptors are the one source of their defaults: every command reads them."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.config import DATASET_INPUTS
from pbitsim.network.archs import DEFAULT_ARCH, DEFAULT_NETS, default_arch, load_arch
from pbitsim.estimator.estimation import DEFAULT_ALGOS, ESTIMATE_DATASET, FF_BASELINES
from pbitsim.rulebook import RULE_SPECS, RULES, TILED_FORMS, rule
from pbitsim.rulebook import FAMILIES, NETS


def test_descriptors_are_consistent():
    assert RULES == tuple(sorted(RULES, key=lambda n: (RULE_SPECS[n].order, n)))
    assert set(DEFAULT_NETS) == set(NETS)
    for name, spec in RULE_SPECS.items():
        assert spec.name == name and spec.family in FAMILIES and spec.net in NETS
        if spec.tiled_form is not None:  # the p-bit form is a tiled rule of the same family
            form = rule(spec.tiled_form)
            assert form.tiled and form.family == spec.family and form.net == spec.net
    assert set(TILED_FORMS.values()) == {s.tiled_form for s in RULE_SPECS.values()} - {None}
    # the estimate's default list and baseline
    assert DEFAULT_ALGOS == ("bp", "ff", "cwc", "bsff", "bgbsff")
    assert FF_BASELINES == ("cwc", "ff")
    assert DEFAULT_ARCH == default_arch(DATASET_INPUTS[ESTIMATE_DATASET][0], "cfse")


def test_cost_walk_and_training_step_take_the_descriptor():
    """One walk and one training step per rule package; a p-bit form (``bsmf``) is run by its
    rule's (``mf``), which take the form's descriptor and tiled units."""
    from pbitsim.estimator.algorithms import get_algorithm
    from pbitsim.training import TrainConfig
    from pbitsim.training.algorithms import _REGISTRY, _discover
    _discover()
    for name, spec in RULE_SPECS.items():
        walk, step = get_algorithm(name), _REGISTRY[name]
        owner = rule(spec.package_rule)
        assert walk.rule is spec and step.rule is owner and owner.base is None
        assert walk.name == name and step.name == owner.name
        assert walk.tiled == spec.tiled == TrainConfig(algo=name).units.tiled
        assert walk.fixed_point == spec.fixed_point and step.default_lr == owner.default_lr
        if spec.base is not None:  # a p-bit form: the rule's own walk class and step class
            assert spec.tiled and rule(spec.base).pbit.name == name
            assert type(walk) is type(get_algorithm(spec.base)) and step is _REGISTRY[spec.base]


def test_p_bit_forms_are_declared_by_their_rules():
    """The p-bit names users know are forms declared in their real-valued rule's descriptor;
    BGBSFF, with behaviour of its own (quantized errors), is a rule of its own on p-bits."""
    forms = {n: s.base for n, s in RULE_SPECS.items() if s.base is not None}
    assert forms == {"bsff": "cwc", "bsmf": "mf", "bscafo-rand": "cafo-rand",
                     "bscafo-dfa": "cafo-dfa", "bssff": "sff"}
    assert RULE_SPECS["bgbsff"].tiled and RULE_SPECS["bgbsff"].base is None
    # the form keeps the names, labels, order and rates it had as a package of its own
    bsff, bssff = rule("bsff"), rule("bssff")
    assert (bsff.label, bsff.order, bsff.default_lr, bsff.lr_help()) == ("BSFF", 20, 0.01, "0.01")
    assert bsff.estimate_default and bsff.baseline_rank is None and bsff.display(7) == "BSFF M=7"
    assert (bssff.default_lr, bssff.lr_help()) == (0.003, "0.003 (AdamW)")
    assert rule("bsmf").default_lr == 0.01 and rule("mf").default_lr == 0.00157
    # --tiles picks the form, except CwC-FF's (BSFF is priced beside it)
    assert TILED_FORMS == {"mf": "bsmf", "cafo-rand": "bscafo-rand", "cafo-dfa": "bscafo-dfa",
                           "sff": "bssff"}


def test_units_are_built_once_from_the_checked_configuration():
    from pbitsim.training import TrainConfig
    from pbitsim.units import REAL, Units, units_of
    cfg = TrainConfig(algo="mf", dataset="mnist", tiles=3, device="smtj:offset_sd=0.2")
    assert cfg.units == REAL  # before validate(): the name is the real-valued rule's
    cfg = cfg.validate()
    assert cfg.algo == "bsmf" and cfg.units == Units(3, cfg.device) and cfg.units.tiled
    assert units_of("bsff") == Units(7, "ideal") and units_of("cwc", 3) == REAL
    with pytest.raises(ValueError, match="tiles must be in 1..64"):
        Units(65, "ideal")
    with pytest.raises(ValueError):
        Units(None, "ideal")


def _estimate(*args):
    r = CliRunner().invoke(cli, ["estimate", *args, "--json", "-"])
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


@pytest.mark.parametrize("algo", ["mf", "sff", "ff", "cafo-rand", "cafo-dfa", "bsmf", "cwc"])
@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_estimate_prices_the_net_train_trains(algo, dataset):
    """Without --arch, ``estimate --algo A --dataset D`` prices the net ``train --algo A
    --dataset D`` trains (TrainConfig resolves it), and says so."""
    from pbitsim.training import TrainConfig
    cfg = TrainConfig(algo=algo, dataset=dataset)
    cfg = cfg.validate()
    doc = _estimate("--algo", algo, "--dataset", dataset)
    assert doc["arch"] == cfg.arch
    assert any(line.startswith(f"network {cfg.arch}: the one `pbitsim train --algo {algo}")
               for line in doc["assumptions"])


def test_estimate_default_dataset_is_cifar10_and_tiles_pick_the_p_bit_form():
    assert _estimate("--algo", "mf")["arch"] == "mf-mlp-3x2000"
    doc = _estimate("--algo", "cafo-rand", "--tiles", "3")
    assert doc["arch"] == "cafo-cnn-cifar10" and list(doc["algorithms"]) == ["bscafo-rand"]
    # the default list keeps the CFSE net and leaves FF out with a note
    doc = _estimate()
    assert doc["arch"] == DEFAULT_ARCH and "ff" not in doc["algorithms"]
    assert not any(line.startswith("network ") for line in doc["assumptions"])


def test_rules_on_different_default_nets_are_one_error_line():
    r = CliRunner().invoke(cli, ["estimate", "--algo", "cwc,mf"])
    assert r.exit_code == 2
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "cwc on cfse-cifar10" in lines[0] and "mf on mf-mlp-3x2000" in lines[0]
    assert "--arch" in lines[0]
    # with --arch they are priced on the one net given
    assert _estimate("--algo", "bp,mf", "--arch", "mf-mlp-2x1000")["arch"] == "mf-mlp-2x1000"


def test_each_rule_reports_its_own_parameter_count():
    """The estimate's parameter count per rule equals what its torch model (with predictors,
    projections, goodness convs) holds, on every rule's default nets."""
    import torch
    from pbitsim.estimator.algorithms import get_algorithm
    from pbitsim.training import TrainConfig
    from pbitsim.training.algorithms import make_algorithm
    for algo in RULES:
        for dataset in ("mnist", "cifar10"):
            cfg = TrainConfig(algo=algo, dataset=dataset)
            cfg = cfg.validate()
            net = load_arch(cfg.arch)
            alg = make_algorithm(cfg, net.input_shape, net.classes)
            held = sum(p.numel() for m in vars(alg).values() if isinstance(m, torch.nn.Module)
                       for p in m.parameters())
            assert get_algorithm(cfg.algo).model_params(net) == held, (algo, dataset)
    # the MF and CaFo figures the independent count check gave
    assert get_algorithm("mf").model_params(load_arch("mf-mlp-2x1000")) == 1_806_000
    doc = _estimate("--algo", "mf", "--dataset", "mnist")
    assert doc["algorithms"]["mf"]["model_params"] == 1_806_000


def test_help_lists_the_rules_from_the_descriptors():
    r = CliRunner().invoke(cli, ["--help"])
    assert r.exit_code == 0
    for label in ("BP", "FF", "CwC-FF", "MF", "CaFo", "SFF", "p-bit forms", "tile count M",
                  "datapath precision"):
        assert label in r.output, label
    r = CliRunner().invoke(cli, ["train", "--help"])
    for name, spec in RULE_SPECS.items():
        assert name in r.output
    assert "0.003 (AdamW) for bssff" in " ".join(r.output.split())
