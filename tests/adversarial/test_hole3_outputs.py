"""Hole 3: an output write never replaces what is at the path.

A symlink is written through to its target, a FIFO or a device directly, ``-`` is standard
output; new files respect the umask; an empty path or a missing folder is one error line.
"""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from adv_helpers import invoke, one_error_line

from pbitsim import runfiles


def test_symlink_is_written_through(tmp_path):
    target, link = tmp_path / "real.json", tmp_path / "link.json"
    target.write_text("old\n")
    link.symlink_to(target)
    r = invoke("estimate", "--json", link)
    assert r.exit_code == 0, r.output
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["format"] == "pbitsim-estimate"


def test_dangling_symlink_creates_its_target(tmp_path):
    target, link = tmp_path / "new.csv", tmp_path / "link.csv"
    link.symlink_to(target)
    assert invoke("estimate", "--csv", link).exit_code == 0
    assert link.is_symlink() and target.read_text().startswith("algo,")


def test_fifo_is_written_directly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()), daemon=True)
    reader.start()
    r = invoke("estimate", "--json", fifo)
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "the FIFO was replaced"
    assert got and json.loads(got[0])["format"] == "pbitsim-estimate"


def _device(tmp_path, name, minor):
    """A private copy of /dev/null (1, 3) or /dev/full (1, 7); needs root (CAP_MKNOD)."""
    path = tmp_path / name
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    except (PermissionError, OSError):
        pytest.skip("cannot create a device node here (not root)")
    return path


def test_device_is_written_directly(tmp_path):
    null = _device(tmp_path, "null", 3)
    assert invoke("estimate", "--json", null).exit_code == 0
    assert stat.S_ISCHR(os.lstat(null).st_mode), "the device node was replaced"
    full = _device(tmp_path, "full", 7)
    one_error_line(invoke("estimate", "--json", full), "No space left on device")
    assert stat.S_ISCHR(os.lstat(full).st_mode), "the device node was replaced"


def test_dash_is_stdout():
    r = invoke("estimate", "--json", "-")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["format"] == "pbitsim-estimate"


@pytest.mark.parametrize("flag", ["--json", "--csv"])
def test_empty_path_is_one_line(flag):
    one_error_line(invoke("estimate", flag, ""), flag, "empty")


def test_missing_folder_is_not_created(tmp_path):
    one_error_line(invoke("estimate", "--json", tmp_path / "no" / "such" / "x.json"),
                   "does not exist")
    assert not (tmp_path / "no").exists()


def test_new_files_respect_the_umask_and_old_ones_keep_their_mode(tmp_path):
    old = os.umask(0o022)
    try:
        assert invoke("estimate", "--json", tmp_path / "a.json").exit_code == 0
        assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o644
        os.umask(0o077)
        (tmp_path / "b.json").write_text("{}")
        os.chmod(tmp_path / "b.json", 0o664)
        assert invoke("estimate", "--json", tmp_path / "b.json").exit_code == 0
        assert stat.S_IMODE(os.stat(tmp_path / "b.json").st_mode) == 0o664
    finally:
        os.umask(old)


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "x.json"
    path.write_text("previous\n")

    def full(fh, data):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(runfiles, "_write_all", full)
    with pytest.raises(runfiles.RunFileError, match="No space left"):
        runfiles.write_text(path, "new\n")
    assert path.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]
