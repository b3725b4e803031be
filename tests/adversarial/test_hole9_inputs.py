"""Hole 9 (issue #22, section 3): inputs that still crashed or gave silent nonsense.

Each is one ``Error:`` line with exit status 2 before any work, or a correct result: a seed
beyond the one range, user names with rich markup or matplotlib math, a net too large for the
machine, a table figure that prices to infinity, counts files that are not their rule's or
arch's, and the smaller options (empty names, a repeated device option, a batch larger than
the epoch, ``derive.base`` forms, an unknown subcommand, limits above what there is).
"""

from __future__ import annotations

import json
import os

import pytest

from adv_helpers import SMALL, invoke, one_error_line

from pbitsim import OpCounter
from pbitsim.config import MAX_SEED
from pbitsim.hardware.tables import TABLE_DIR


def _arch(tmp_path, name="net", units=20, file="net.toml"):
    path = tmp_path / file
    path.write_text(f'name = {json.dumps(name)}\ninput = [1, 28, 28]\nclasses = 10\n'
                    f'[[layers]]\ntype = "dense"\nunits = {units}\n')
    return path


# ------------------------------------------------------------------------------------ seeds
@pytest.mark.parametrize("seed", [str(2 ** 64), str(MAX_SEED + 1), "1e23"])
def test_train_seed_outside_the_one_range(mnist_dir, tmp_path, seed):
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--seed", seed, "--out", tmp_path / "r")
    one_error_line(r, "--seed")
    assert not (tmp_path / "r").exists(), "work started before the seed was checked"


def test_train_and_sweep_share_the_seed_range(mnist_dir, tmp_path):
    top = str(MAX_SEED + 1)
    t = one_error_line(invoke("train", *SMALL, "--data-dir", mnist_dir, "--seed", top,
                              "--out", tmp_path / "r"))
    s = one_error_line(invoke("sweep", "--estimate-only", "--seeds", top, "--out", tmp_path))
    assert f"0..{MAX_SEED}" in t and f"0..{MAX_SEED}" in s


# ----------------------------------------------------------------------------- user strings
EVIL = "evil[/]net[bold red]"


def test_train_prints_a_markup_name_as_it_is(mnist_dir, tmp_path):
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--arch", _arch(tmp_path, EVIL),
               "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert EVIL in r.output


def test_sweep_estimate_prints_a_markup_name_as_it_is(tmp_path):
    r = invoke("sweep", "--estimate-only", "--tiles", "1,2", "--arch", _arch(tmp_path, EVIL),
               "--out", tmp_path / "out", "--no-plots")
    assert r.exit_code == 0, r.output
    assert EVIL in r.output


def test_sweep_estimate_prints_a_markup_table_name_as_it_is(tmp_path):
    table = tmp_path / "my[bold red]table.toml"  # a user table is labelled by its path
    table.write_text((TABLE_DIR / "horowitz-45nm.toml").read_text())
    r = invoke("sweep", "--estimate-only", "--tiles", "1", "--table", table,
               "--out", tmp_path / "out", "--no-plots")
    assert r.exit_code == 0, r.output
    assert "my[boldred]table.toml" in "".join(r.output.split())  # the title may wrap


def test_sweep_plots_a_name_with_math_dollars(tmp_path):
    pytest.importorskip("matplotlib")
    r = invoke("sweep", "--estimate-only", "--tiles", "1,2",
               "--arch", _arch(tmp_path, r"evil$\undefinedcmd$net"), "--out", tmp_path / "out")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "energy_vs_tiles.png").stat().st_size > 0


# ------------------------------------------------------------------------- sizes and figures
def test_train_refuses_a_net_larger_than_the_machine(tmp_path):
    r = invoke("train", "--algo", "cwc", "--arch", _arch(tmp_path, units=10 ** 12),
               "--out", tmp_path / "run")
    one_error_line(r, "GiB", "this machine has")
    assert not (tmp_path / "run").exists()


def test_sweep_refuses_a_net_larger_than_the_machine(tmp_path):
    r = invoke("sweep", "--algo", "cwc", "--arch", _arch(tmp_path, units=10 ** 12),
               "--out", tmp_path / "out", "--no-plots")
    one_error_line(r, "GiB")
    assert not (tmp_path / "out" / "sweep.json").exists()


def test_estimate_prices_a_huge_net_finitely(tmp_path):
    """The choice: the estimate is arithmetic, so it prices any net whose figures stay finite."""
    r = invoke("estimate", "--algo", "bp", "--arch", _arch(tmp_path, units=10 ** 12),
               "--json", "-")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert 1e15 < doc["algorithms"]["bp"]["train_per_sample_pj"] < float("inf")


@pytest.fixture
def huge_figure_table(tmp_path):
    text = (TABLE_DIR / "horowitz-45nm.toml").read_text()
    path = tmp_path / "huge.toml"
    path.write_text(text.replace("energy_pj = 0.03", "energy_pj = 1e308", 1))
    assert path.read_text() != text
    return path


@pytest.mark.parametrize("command", [["estimate"], ["estimate", "--json", "-"],
                                     ["sweep", "--estimate-only", "--no-plots"], ["train"]])
def test_a_table_figure_that_prices_to_infinity_is_refused(tmp_path, huge_figure_table,
                                                           command):
    extra = () if command[0] == "estimate" else ("--out", tmp_path / "out")
    r = invoke(*command, "--table", huge_figure_table, *extra)
    one_error_line(r, "add_int8.energy_pj", "limit")
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------- counts files
def _counts(tmp_path, **change):
    counter = OpCounter({"add:fp32": 1000, "pbit_sample": 700, "act_read:u3": 100})
    doc = json.loads(counter.to_json(algo="bsff", tiles=7, arch="cwc-mnist", dataset="mnist",
                                     activation_density=0.2, layer_density=[0.2, 0.2, 0.2, 0.2],
                                     train_samples=10, epochs=1, test_samples=5))
    doc.update(change)
    path = tmp_path / "counts.json"
    path.write_text(json.dumps(doc))
    return path


def test_counts_file_control_is_priced(tmp_path):
    assert invoke("estimate", "--counts", _counts(tmp_path)).exit_code == 0


@pytest.mark.parametrize("change, needles", [
    ({"counts": {"add:fp32": 10 ** 400, "pbit_sample": 7}}, ("counts['add:fp32']",)),
    ({"layer_density": [0.2, 0.3]}, ("layer_density has 2 values", "4 block(s)")),
    ({"algo": "cwc"}, ("cwc has no p-bits",)),
    ({"algo": "cwc", "tiles": None}, ("cwc has no p-bits", "p-bit samples")),
    ({"counts": {"add:fp32": 1000}}, ("bsff runs on p-bits",)),
])
def test_counts_file_not_of_its_rule_or_arch(tmp_path, change, needles):
    one_error_line(invoke("estimate", "--counts", _counts(tmp_path, **change)), *needles)


# ------------------------------------------------------------------------------- smaller
@pytest.mark.parametrize("option", ["--algo", "--arch"])
@pytest.mark.parametrize("value", ["", " ", ","])
def test_estimate_empty_name_is_not_the_default(option, value):
    one_error_line(invoke("estimate", option, value), option, "empty")


@pytest.mark.parametrize("command", [["estimate"], ["train"], ["sweep", "--estimate-only"]])
def test_a_device_option_given_twice(tmp_path, command):
    extra = () if command == ["estimate"] else ("--out", tmp_path / "out")
    one_error_line(invoke(*command, "--device", "digital:rng=lfsr32,rng=xoshiro128", *extra),
                   "'rng' is given twice")


def test_estimate_batch_larger_than_the_epoch():
    one_error_line(invoke("estimate", "--batch-size", str(10 ** 22)), "--batch-size",
                   "45,000 samples")
    assert invoke("estimate", "--batch-size", "45000").exit_code == 0


def _derived(tmp_path, base: str):
    text = (TABLE_DIR / "stillmaker-7nm.toml").read_text()
    path = tmp_path / "derived.toml"
    path.write_text(text.replace('base = "horowitz-45nm"', f'base = "{base}"'))
    return path


@pytest.mark.parametrize("base", ["mybase.toml", "mybase"])
def test_derive_base_as_a_file_name(tmp_path, base):
    (tmp_path / "mybase.toml").write_text((TABLE_DIR / "horowitz-45nm.toml").read_text())
    mine = invoke("estimate", "--table", _derived(tmp_path, base), "--json", "-")
    shipped = invoke("estimate", "--table", "stillmaker-7nm", "--json", "-")
    assert mine.exit_code == 0, mine.output
    assert (json.loads(mine.stdout)["algorithms"] == json.loads(shipped.stdout)["algorithms"])


def test_derive_base_naming_a_folder(tmp_path):
    (tmp_path / "tables").mkdir()
    one_error_line(invoke("estimate", "--table", _derived(tmp_path, "tables")),
                   "derive.base = 'tables'", "a folder")


def test_unknown_subcommand_is_one_line():
    one_error_line(invoke("trian"), "No such command 'trian'")


@pytest.fixture
def tiny_mnist(tmp_path):
    """An MNIST-format folder of 80 training and 20 test images (seeded noise): the limits
    above what it holds are checked without training or testing on all of MNIST."""
    import gzip
    import struct

    import numpy as np
    rng = np.random.default_rng(22)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for stem, n in (("train", 80), ("t10k", 20)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        with gzip.open(folder / f"{stem}-images-idx3-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">IIII", 2051, n, 28, 28) + x.tobytes())
        with gzip.open(folder / f"{stem}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(struct.pack(">II", 2049, n) + y.tobytes())
    return folder


def test_limits_above_the_data_set_say_what_is_used(tiny_mnist, tmp_path):
    r = invoke("train", "--algo", "cwc", "--batch-size", "32", "--data-dir", tiny_mnist,
               "--limit-train", "100000000", "--limit-test", "100000000",
               "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    notes = [l for l in r.output.splitlines() if l.startswith("note:")]
    assert notes == [
        "note: --limit-train 100,000,000 is more than the 80 training images of mnist: all 80 "
        "are used",
        "note: --limit-test 100,000,000 is more than the 20 test images of mnist: all 20 are "
        "used"], r.output
    res = json.loads((tmp_path / "run" / "results.json").read_text())
    assert (res["train_samples"], res["test_samples"]) == (80, 20)


def test_threads_above_the_cpus_says_what_is_used(mnist_dir, tmp_path):
    cpus = len(os.sched_getaffinity(0))
    r = invoke("train", *SMALL, "--data-dir", mnist_dir, "--threads", cpus + 1,
               "--out", tmp_path / "run")
    assert r.exit_code == 0, r.output
    assert f"note: --threads {cpus + 1} is more than the {cpus} CPU(s) here: the run uses " \
           f"{cpus + 1} threads as asked" in r.output
    assert json.loads((tmp_path / "run" / "results.json").read_text())["threads"] == cpus + 1


@pytest.mark.parametrize("command", [["train"], ["sweep", "--estimate-only"]])
def test_threads_beyond_any_machine(tmp_path, command):
    one_error_line(invoke(*command, "--threads", "1000000", "--out", tmp_path / "o"),
                   "--threads", "1..1024")
