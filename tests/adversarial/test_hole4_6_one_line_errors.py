"""Holes 4 and 6: bad input is one ``Error:`` line with exit status 2, before any long work.

No traceback for odd values, paths, self-referring tables, deep JSON, devices, endless or huge
files, decompression bombs; and a typo is reported before training, not after it.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from adv_helpers import SMALL, invoke, one_error_line, subprocess_env

from pbitsim.hardware.tables import TABLE_DIR


# ---------------------------------------------------------------------------------- hole 4
@pytest.mark.parametrize("tiles", ["65", "255"])
def test_train_tiles_above_the_kernels_limit(tmp_path, tiles):
    one_error_line(invoke("train", "--tiles", tiles, "--out", tmp_path / "run"), "--tiles", "64")
    assert not (tmp_path / "run").exists()


def test_train_out_below_a_file(mnist_dir, tmp_path):
    (tmp_path / "file").write_text("")
    one_error_line(invoke("train", *SMALL, "--data-dir", mnist_dir, "--out",
                          tmp_path / "file" / "sub"), "a file is in the way")


def test_train_out_where_nothing_can_be_created(mnist_dir):
    if os.access("/sys", os.W_OK) and not Path("/sys/class").is_dir():
        pytest.skip("no read-only /sys here")
    one_error_line(invoke("train", *SMALL, "--data-dir", mnist_dir, "--out",
                          "/sys/pbitsim-adversarial/run"), "cannot create output folder")


@pytest.fixture
def self_table(tmp_path):
    """A table whose [derive] base is itself."""
    text = (TABLE_DIR / "stillmaker-7nm.toml").read_text()
    path = tmp_path / "self.toml"
    path.write_text(text.replace('base = "horowitz-45nm"', 'base = "self"'))
    return path


def test_self_derived_table_in_estimate(self_table):
    one_error_line(invoke("estimate", "--table", self_table), "derived from itself")


def test_self_derived_table_in_train_before_training(mnist_dir, self_table, tmp_path):
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--table", self_table,
               "--out", tmp_path / "run")
    one_error_line(r, "--table", "derived from itself")
    assert not (tmp_path / "run").exists(), "work started before the table was checked"


@pytest.mark.parametrize("mode", [(), ("--estimate-only",)])
def test_self_derived_table_in_sweep(self_table, tmp_path, mode):
    one_error_line(invoke("sweep", *mode, "--tiles", "1", "--table", self_table,
                          "--out", tmp_path / "out"), "derived from itself")
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_counts_nested_too_deeply(tmp_path):
    path = tmp_path / "counts.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    one_error_line(invoke("estimate", "--counts", path), "nested too deeply")


@pytest.mark.parametrize("mode", [(), ("--estimate-only",)])
def test_sweep_empty_device_keeps_previous_outputs(tmp_path, mode):
    (tmp_path / "sweep.json").write_text("previous\n")
    one_error_line(invoke("sweep", *mode, "--device", "", "--out", tmp_path), "--device")
    assert (tmp_path / "sweep.json").read_text() == "previous\n"


@pytest.mark.parametrize("option", ["--arch", "--table", "--counts"])
def test_endless_input_is_capped(option):
    one_error_line(invoke("estimate", option, "/dev/zero"), "limit")


@pytest.mark.parametrize("option, name", [("--arch", "big.toml"), ("--table", "big.toml"),
                                          ("--counts", "big.json")])
def test_huge_file_is_refused_before_reading(tmp_path, option, name):
    path = tmp_path / name
    with open(path, "wb") as fh:  # sparse: 4 GiB that take no disk
        fh.truncate(4 << 30)
    one_error_line(invoke("estimate", option, path), "limit")


_BOMB_PROBE = """
import sys
from pbitsim.datasets import DatasetError, load_dataset
try:
    load_dataset("cifar10", sys.argv[1])
except DatasetError as e:
    print(str(e))
# peak resident memory of this process (VmHWM starts afresh at exec, unlike ru_maxrss)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0].split()[1]
print("peak_mib", int(hwm) // 1024)
"""


def test_cifar_tar_bomb_is_refused_before_decompressing(tmp_path):
    """A member that decompresses to 400 MB (a few hundred KB on disk) is not read."""
    size = 400 << 20
    info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
    info.size = size

    class Zeros:
        def __init__(self):
            self.left = size

        def read(self, n=-1):
            n = self.left if n is None or n < 0 else min(n, self.left)
            self.left -= n
            return bytes(n)

    with gzip.open(tmp_path / "cifar-10-binary.tar.gz", "wb", compresslevel=1) as gz, \
            tarfile.open(fileobj=gz, mode="w|") as tf:
        tf.addfile(info, Zeros())
    r = subprocess.run([sys.executable, "-c", _BOMB_PROBE, str(tmp_path)], capture_output=True,
                       text=True, timeout=120, env=subprocess_env())
    assert r.returncode == 0, r.stderr
    message, rss = r.stdout.strip().splitlines()
    assert "data_batch_1.bin" in message and "limit" in message
    assert int(rss.split()[1]) < 200, f"the member was read ({rss})"


# ---------------------------------------------------------------------------------- hole 6
def test_train_table_typo_before_training(mnist_dir, tmp_path):
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--table", "horowitz-45mn",
               "--out", tmp_path / "run")
    one_error_line(r, "--table", "unknown table 'horowitz-45mn'")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("spec", ["smtj:offset_sd=inf", "smtj:offset_sd=nan",
                                  "smtj:stuck_rate=-inf"])
@pytest.mark.parametrize("command", [["train"], ["estimate"], ["sweep", "--estimate-only"]])
def test_non_finite_device_option(tmp_path, spec, command):
    extra = () if command == ["estimate"] else ("--out", tmp_path / "out")
    one_error_line(invoke(*command, "--device", spec, *extra), "finite")


def test_estimate_more_densities_than_blocks():
    one_error_line(invoke("estimate", "--arch", "cwc-mnist", "--density", "0.1,0.2,0.1,0.1,0.3"),
                   "5 values", "4 block(s)")


def test_energy_is_divided_by_the_samples_trained(mnist_dir, tmp_path):
    # 3 images in batches of 2: the trailing batch of one is dropped (batch norm needs two)
    r = invoke("train", "--algo", "cwc", "--data-dir", mnist_dir, "--limit-train", "3",
               "--limit-test", "4", "--batch-size", "2", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert res["history"][0]["samples"] == 2 and res["train_samples"] == 2
    e = res["energy"]
    assert e["train_pj_per_sample"] == pytest.approx(e["train"]["total_pj"] / 2)
