"""`pbitsim hardware list|show NAME|FILE [--toml]`: output, round trip, and every validation
rule as one `Error:` line with exit status 2."""

import dataclasses
import subprocess
import sys

import pytest
from click.testing import CliRunner

from pbitsim.cli.main import cli
from pbitsim.hardware.library import list_hardware, load_hardware


def run(*args):
    return CliRunner().invoke(cli, ["hardware", *args])


def test_list():
    result = run("list")
    assert result.exit_code == 0, result.output
    for text in ("table-levels", "eyeriss", "systolic-ws", "pbit-accel", "12 x 14", "flat",
                 "hierarchy", "200 MHz"):
        assert text in result.output


def test_show():
    out = run("show", "eyeriss").output
    for text in ("rf", "glb", "dram", "520 B", "108 KiB", "0.8333", "166.7",
                 "24,877", "12 x 14 = 168 PEs", "datapath int16", "Area by component",
                 "total on chip", "4.907 mm^2", "Table IV", "log-log", "Sources:"):
        assert text in out, text
    accel = run("show", "pbit-accel").output
    for text in ("1,024 physical p-bits", "5 ns per sample", "0.288", "262.7",
                 "Schnitzspan", "p-bits"):
        assert text in accel, text
    flat = run("show", "table-levels").output
    assert "model flat" in flat and "weight -> sram_8kb" in flat and "stash -> dram" in flat


def test_show_toml_round_trips(tmp_path):
    for name in list_hardware():
        result = run("show", name, "--toml")
        assert result.exit_code == 0, result.output
        path = tmp_path / f"{name}-copy.toml"
        path.write_text(result.output)
        copy, original = load_hardware(str(path)), load_hardware(name)
        assert dataclasses.replace(copy, name=name, path=None) == dataclasses.replace(
            original, path=None)
        if original.hierarchical:
            assert "# derived from table horowitz-45nm" in result.output
        # the copy shows the same (now given) figures
        assert run("show", str(path)).exit_code == 0


def test_hardware_commands_import_neither_torch_nor_numba():
    code = (
        "import sys\n"
        "from pbitsim.cli.main import cli\n"
        "try:\n"
        "    for name in ('eyeriss', 'table-levels', 'pbit-accel'):\n"
        "        cli.main(['hardware', 'show', name], standalone_mode=False)\n"
        "    cli.main(['hardware', 'list'], standalone_mode=False)\n"
        "finally:\n"
        "    sys.stderr.write(repr(sorted(m for m in ('torch', 'numba')"
        " if m in sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "[]"


BASE = '''
name = "tiny"
title = "a test hierarchy"
model = "hierarchy"
table = "horowitz-45nm"
objective = "energy"
clock_hz = 1e9
source = "test"

[compute]
rows = 2
cols = 3
zero_inputs = "skip"
datapath = "fp32"
source = "test"

[pbits]
count = 8
sample_ns = 2.0
device = "smtj"
source = "test"

[[levels]]
name = "rf"
kind = "register"
capacity_bytes = 64
per_pe = true
access_bits = 32
holds = ["weight", "act"]
source = "test"

[[levels]]
name = "buf"
kind = "sram"
capacity_bytes = 65536
read_pj = 20.0
write_pj = 20.0
source = "test"

[[levels]]
name = "dram"
kind = "dram"
capacity_bytes = "inf"
source = "test"
'''


def _level(text, name):
    """The index of the [[levels]] block named ``name`` in ``text``."""
    return text.index(f'name = "{name}"')


def edit_level(name, old, new):
    def apply(text):
        at = _level(text, name)
        tail = text[at:].replace(old, new, 1)
        assert tail != text[at:], (name, old)
        return text[:at] + tail
    return apply


def edit(old, new):
    def apply(text):
        assert old in text, old
        return text.replace(old, new, 1)
    return apply


RULES = [
    # (change to BASE, text the one Error line must contain)
    (edit('kind = "sram"', 'kind = "flash"'), "levels.buf.kind = 'flash' is not one of"),
    (edit("capacity_bytes = 65536", "capacity_bytes = 0"), "levels.buf.capacity_bytes must be"),
    (edit("capacity_bytes = 65536", "capacity_bytes = 1.5"), "positive whole number"),
    (edit("capacity_bytes = 65536", 'capacity_bytes = "inf"'), "only a dram may be unbounded"),
    (edit_level("dram", 'kind = "dram"\ncapacity_bytes = "inf"',
                'kind = "sram"\ncapacity_bytes = 1048576'), "the last level (dram) must be"),
    (edit_level("buf", 'kind = "sram"', 'kind = "dram"'), "is a dram but not the last"),
    (edit("capacity_bytes = 64", "capacity_bytes = 131072"), "innermost first"),
    (edit('holds = ["weight", "act"]', 'holds = ["weights"]'), "'weights' is not a tensor class"),
    (edit('holds = ["weight", "act"]', 'holds = []'), "non-empty list of tensor classes"),
    (edit('holds = ["weight", "act"]', 'holds = ["act", "act"]'), "names a tensor class twice"),
    (edit_level("dram", "source", 'holds = ["weight", "act", "grad", "state"]\nsource'),
     "must hold every tensor class"),
    (edit("read_pj = 20.0", "read_pj = -1.0"), "levels.buf.read_pj must be a number >= 0"),
    (edit("read_pj = 20.0", "read_pj = nan"), "levels.buf.read_pj must be a number >= 0"),
    (edit("read_pj = 20.0", "read_pj = inf"), "levels.buf.read_pj must be a number >= 0"),
    (edit("write_pj = 20.0", "write_pj = 2e12"), "above the limit"),
    (edit_level("buf", "source", "area_um2 = -3.0\nsource"), "levels.buf.area_um2 must be"),
    (edit("rows = 2", "rows = 0"), "compute.rows must be an integer >= 1"),
    (edit("cols = 3", "cols = 2.5"), "compute.cols must be an integer >= 1"),
    (edit("rows = 2\n", ""), "compute lacks 'rows'"),
    (edit('model = "hierarchy"', 'model = "flatland"'), "model = 'flatland' is not one of"),
    (edit('zero_inputs = "skip"', 'zero_inputs = "ignore"'), "compute.zero_inputs = 'ignore'"),
    (edit('objective = "energy"', 'objective = "area"'), "objective = 'area' is not one of"),
    (edit('datapath = "fp32"', 'datapath = "fp33x"'), "compute.datapath = 'fp33x'"),
    (edit('datapath = "fp32"', 'datapath = "fp16"'), "pe_area_um2 omitted"),
    (edit('table = "horowitz-45nm"', 'table = "nope-3nm"'), "unknown table 'nope-3nm'"),
    (edit('table = "horowitz-45nm"', 'table = "jouppi-7nm"'),
     "area_um2 omitted and table jouppi-7nm has no area.sram_per_kb"),
    (edit('clock_hz = 1e9', 'clock_hz = 1e9\nclock_mhz = 1000'), "unknown key 'clock_mhz'"),
    (edit('name = "rf"', 'name = "rf"\ncapacity = 64'), "unknown key 'levels.rf.capacity'"),
    (edit('rows = 2', 'rows = 2\ncolumns = 3'), "unknown key 'compute.columns'"),
    (edit('count = 8', 'count = 8\nsample_s = 1'), "unknown key 'pbits.sample_s'"),
    (edit('source = "test"\n\n[compute]', '\n[compute]'), "the top level lacks 'source'"),
    (edit('datapath = "fp32"\nsource = "test"', 'datapath = "fp32"'), "compute lacks 'source'"),
    (edit('device = "smtj"\nsource = "test"', 'device = "smtj"'), "pbits lacks 'source'"),
    (edit_level("buf", 'source = "test"', 'notes = "x"'), "unknown key 'levels.buf.notes'"),
    (edit_level("dram", 'source = "test"', ''), "levels.dram lacks 'source'"),
    (edit('sample_ns = 2.0', 'sample_ns = 0'), "pbits.sample_ns must be a number > 0"),
    (edit('count = 8', 'count = 0'), "pbits.count must be an integer >= 1"),
    (edit('device = "smtj"', 'device = "quantum"'), "pbits.device = 'quantum'"),
    (edit('clock_hz = 1e9\n', ''), "clock_hz must be a number > 0"),
    (edit('clock_hz = 1e9', 'clock_hz = -5.0'), "clock_hz must be a number > 0"),
    (edit('name = "buf"', 'name = "rf"'), "two levels are named 'rf'"),
    (edit('name = "buf"', 'name = "pbits"'), "taken by the pbits component"),
    (edit_level("dram", "source", "per_pe = true\nsource"), "a dram cannot be per_pe"),
    (edit("per_pe = true", "per_pe = 1"), "levels.rf.per_pe must be true or false"),
    (edit("access_bits = 32", "access_bits = 0"), "levels.rf.access_bits must be an integer"),
    (edit_level("buf", "source", "bandwidth_bits_per_cycle = 0\nsource"),
     "bandwidth_bits_per_cycle must be a number > 0 or 'inf'"),
    (edit('model = "hierarchy"', 'model = "flat"'), "model = 'flat' prices every count stream"),
    (lambda t: t[:t.index("[[levels]]")], "needs [[levels]]"),
    (lambda t: t.replace('name = "tiny"\n', ''), "missing 'name'"),
    (lambda t: t + "\n[[oops", "is not valid TOML"),
]


@pytest.mark.parametrize("change, message", RULES)
def test_each_rule_is_one_error_line(tmp_path, change, message):
    path = tmp_path / "hw.toml"
    path.write_text(change(BASE))
    result = run("show", str(path))
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    assert message in lines[0], lines[0]


def test_base_is_valid(tmp_path):
    path = tmp_path / "hw.toml"
    path.write_text(BASE)
    result = run("show", str(path))
    assert result.exit_code == 0, result.output
    hw = load_hardware(str(path))
    assert hw.level("rf").derived == ("read_pj", "write_pj", "area_um2")
    assert hw.level("buf").derived == ("area_um2",)
    assert hw.compute.derived == ("pe_area_um2",)
    # the dram's capacity may be omitted or written as the string "inf": the same hardware
    path.write_text(BASE.replace('capacity_bytes = "inf"\n', ""))
    assert load_hardware(str(path)) == hw


def test_unknown_and_missing_are_one_line(tmp_path):
    for args, message in ((("show", "nope"), "unknown hardware 'nope'"),
                          (("show", str(tmp_path / "gone.toml")), "gone.toml"),
                          (("show", str(tmp_path)), str(tmp_path))):
        result = run(*args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0]


@pytest.mark.parametrize("args", [("list",), ("show", "eyeriss", "--toml")])
def test_full_stdout_is_one_line(args):
    import os
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "pbitsim", "hardware", *args],
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "standard output" in lines[0]
