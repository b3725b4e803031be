"""Training through non-ideal p-bit devices: the device reaches the samplers and the results."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.kernels import Digital, Smtj
from pbitsim.training import TrainConfig, TrainingError
from pbitsim.network.archs import load_arch
from pbitsim.training.models import Net

def test_device_spec_is_validated_and_canonical():
    cfg = TrainConfig(device="smtj:stuck_rate=0.01,offset_sd=0.2")
    cfg = cfg.validate()
    assert cfg.device == "smtj:offset_sd=0.2,stuck_rate=0.01"
    with pytest.raises(TrainingError, match="unknown p-bit device 'bogus'"):
        TrainConfig(device="bogus").validate()


def test_blocks_sample_with_the_device():
    arch = load_arch("cwc-mnist")
    net = Net(arch, tiles=3, device="smtj:stuck_rate=0.5,stuck_high=1")
    devices = [act.device for act in net.acts]
    assert all(isinstance(d, Smtj) and d.stuck_rate == 0.5 for d in devices)
    # every block is its own array of devices
    assert len({d.device_seed for d in devices}) == len(devices)
    assert isinstance(Net(arch, tiles=3, device="digital").acts[0].device, Digital)
    # half the p-bits stuck at 1: a very negative input still fires about half the tiles
    z = torch.full((4, 20, 28, 28), -50.0)
    s, _ = net.acts[0](z, seed=1)
    assert abs(float(s.mean()) / 3 - 0.5) < 0.05
    s_ideal, _ = Net(arch, tiles=3).acts[0](z, seed=1)
    assert float(s_ideal.sum()) == 0


def test_train_records_the_device(tmp_path, mnist_dir):
    out = tmp_path / "run"
    r = CliRunner().invoke(cli, ["train", "--algo", "bsff", "--tiles", "2", "--data-dir",
                                 mnist_dir, "--limit-train", "64", "--limit-test", "32",
                                 "--batch-size", "32", "--device", "digital:lut_width=8",
                                 "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    res = json.loads((out / "results.json").read_text())
    counts = json.loads((out / "counts.json").read_text())
    assert res["device"] == counts["device"] == res["energy"]["device"] == "digital:lut_width=8"
    # the headline accuracy is its predictor's share of the 32 test images
    assert res["accuracy"] == res["test_accuracy"][res["predictor"]]
    assert res["accuracy"] * 32 == round(res["accuracy"] * 32)
    # the digital p-bit costs more per sample than the default (sMTJ-priced) ideal one
    ideal = CliRunner().invoke(cli, ["estimate", "--counts", str(out / "counts.json"),
                                     "--device", "ideal", "--json", "-"])
    digital = CliRunner().invoke(cli, ["estimate", "--counts", str(out / "counts.json"),
                                       "--json", "-"])
    assert ideal.exit_code == digital.exit_code == 0, (ideal.output, digital.output)
    price = [json.loads(x.output)["algorithms"]["bsff"]["train_per_sample_pj"]
             for x in (ideal, digital)]
    assert price[1] > price[0]


def test_bad_device_is_one_line(tmp_path):
    r = CliRunner().invoke(cli, ["train", "--device", "smtj:stuck_rate=2", "--out",
                                 str(tmp_path)])
    lines = r.output.strip().splitlines()
    assert r.exit_code == 2 and len(lines) == 1 and "stuck_rate must be in [0, 1]" in lines[0]
