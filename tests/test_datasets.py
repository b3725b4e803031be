"""Tests for pbitsim.datasets: real MNIST / Fashion-MNIST / CIFAR-10 when present, synthetic files always."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pbitsim import datasets
from pbitsim.datasets import Dataset, DatasetError, load_dataset

# Real data: real_mnist_dir / real_cifar_dir (tests/conftest.py) skip when it is absent
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def _need(path: Path, what: str):
    if not path.exists():
        pytest.skip(f"{what} not available at {path}")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No user configuration leaks in: empty cache dir, no PBITSIM_DATA."""
    monkeypatch.delenv("PBITSIM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def mnist(real_mnist_dir):
    return load_dataset("mnist", real_mnist_dir)


@pytest.fixture(scope="module")
def cifar(real_cifar_dir):
    return load_dataset("cifar10", real_cifar_dir)


def _check_common(ds: Dataset, n_train, n_test, shape):
    assert ds.train_x.shape == (n_train, *shape) and ds.test_x.shape == (n_test, *shape)
    assert ds.train_x.dtype == np.uint8 and ds.test_x.dtype == np.uint8
    assert ds.train_y.dtype == np.int64 and ds.test_y.dtype == np.int64
    assert ds.train_y.shape == (n_train,) and ds.test_y.shape == (n_test,)
    assert len(ds.classes) == 10 and ds.num_classes == 10
    for y, n in ((ds.train_y, n_train), (ds.test_y, n_test)):
        hist = np.bincount(y, minlength=10)
        assert len(hist) == 10 and hist.sum() == n and (hist > 0).all()


# --------------------------------------------------------------------------------------------
# Real datasets
# --------------------------------------------------------------------------------------------


def test_mnist_real(mnist):
    _check_common(mnist, 60000, 10000, (1, 28, 28))
    assert abs(mnist.train_x.mean() / 255 - 0.1307) < 1e-3
    assert mnist.train_y[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(mnist.test_y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert mnist.mean == (0.1307,) and mnist.std == (0.3081,)


def test_mnist_real_normalized(mnist):
    z = mnist.normalized(mnist.train_x[:20000])
    assert z.dtype == np.float32 and z.shape == (20000, 1, 28, 28)
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02


def test_mnist_real_parent_dir_and_verify(real_mnist_dir):
    ds = load_dataset("MNIST", Path(real_mnist_dir).parent, verify=True)  # parent holding mnist/
    assert ds.name == "mnist" and ds.train_x.shape[0] == 60000


def test_fashion_mnist_real_found_without_configuration():
    _need(FASHION_DIR / "train-images-idx3-ubyte.gz", "Fashion-MNIST (apt-get install dataset-fashion-mnist)")
    ds = load_dataset("fashion-mnist")  # Debian location, no data_dir, empty cache
    _check_common(ds, 60000, 10000, (1, 28, 28))
    assert ds.source == str(FASHION_DIR)
    assert abs(ds.train_x.mean() / 255 - 0.2860) < 1e-3
    assert (np.bincount(ds.train_y) == 6000).all() and (np.bincount(ds.test_y) == 1000).all()
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.mean == (0.5,) and ds.std == (0.5,)


def test_cifar10_real_tarball(cifar):
    _check_common(cifar, 50000, 10000, (3, 32, 32))
    means = cifar.train_x.mean(axis=(0, 2, 3)) / 255
    np.testing.assert_allclose(means, (0.4914, 0.4822, 0.4465), atol=1e-3)
    assert (np.bincount(cifar.train_y) == 5000).all() and (np.bincount(cifar.test_y) == 1000).all()
    assert cifar.train_y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert cifar.classes[0] == "airplane" and cifar.classes[9] == "truck"
    z = cifar.normalized(cifar.test_x[:16])
    assert z.dtype == np.float32 and z.shape == (16, 3, 32, 32)


# --------------------------------------------------------------------------------------------
# Synthetic IDX helpers
# --------------------------------------------------------------------------------------------

IDX_NAMES = {
    "train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte",
}


def idx_bytes(arr: np.ndarray, magic: int | None = None) -> bytes:
    arr = np.asarray(arr, dtype=np.uint8)
    magic = (0x800 | arr.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(">" + "I" * arr.ndim, *arr.shape) + arr.tobytes()


def write_idx_set(d: Path, n_train=12, n_test=7, gz=True, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_x": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_y": np.arange(n_train, dtype=np.uint8) % 10,
        "test_x": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_y": (np.arange(n_test, dtype=np.uint8) * 3) % 10,
    }
    for key, arr in arrays.items():
        data = idx_bytes(arr)
        if gz:
            (d / (IDX_NAMES[key] + ".gz")).write_bytes(gzip.compress(data))
        else:
            (d / IDX_NAMES[key]).write_bytes(data)
    return arrays


def _assert_same(ds: Dataset, arrays: dict):
    np.testing.assert_array_equal(ds.train_x[:, 0], arrays["train_x"])
    np.testing.assert_array_equal(ds.test_x[:, 0], arrays["test_x"])
    np.testing.assert_array_equal(ds.train_y, arrays["train_y"].astype(np.int64))
    np.testing.assert_array_equal(ds.test_y, arrays["test_y"].astype(np.int64))


# --------------------------------------------------------------------------------------------
# Synthetic IDX: loading and directory resolution
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_roundtrip(tmp_path, gz):
    arrays = write_idx_set(tmp_path, gz=gz)
    ds = load_dataset("mnist", tmp_path)
    _assert_same(ds, arrays)
    assert ds.train_x.shape == (12, 1, 28, 28) and ds.train_y.dtype == np.int64
    assert ds.train_x.flags.writeable and ds.train_x.flags.c_contiguous


def test_idx_gzip_detected_by_content_not_name(tmp_path):
    arrays = write_idx_set(tmp_path, gz=False)
    # A raw file named .gz (browsers often gunzip on the fly) and a gzipped file without .gz.
    p = tmp_path / IDX_NAMES["train_x"]
    p.rename(tmp_path / (IDX_NAMES["train_x"] + ".gz"))
    q = tmp_path / IDX_NAMES["test_y"]
    q.write_bytes(gzip.compress(q.read_bytes()))
    _assert_same(load_dataset("mnist", tmp_path), arrays)


def test_parent_dir_with_both_mnists(tmp_path):
    a = write_idx_set(tmp_path / "mnist", seed=1)
    b = write_idx_set(tmp_path / "fashion-mnist", seed=2)
    _assert_same(load_dataset("mnist", tmp_path), a)
    fm = load_dataset("fashion_mnist", tmp_path)
    _assert_same(fm, b)
    assert fm.name == "fashion-mnist" and fm.mean == (0.5,)


def test_torchvision_layout(tmp_path):
    a = write_idx_set(tmp_path / "MNIST" / "raw", gz=False)
    _assert_same(load_dataset("mnist", tmp_path), a)


def test_env_and_cache_resolution(tmp_path, monkeypatch):
    a = write_idx_set(tmp_path / "env" / "mnist", seed=3)
    monkeypatch.setenv("PBITSIM_DATA", str(tmp_path / "env"))
    _assert_same(load_dataset("mnist"), a)
    monkeypatch.delenv("PBITSIM_DATA")
    c = write_idx_set(tmp_path / "xdg-cache" / "pbitsim" / "mnist", seed=4)
    _assert_same(load_dataset("mnist"), c)
    assert datasets.default_cache_dir("mnist") == tmp_path / "xdg-cache" / "pbitsim" / "mnist"


def test_unknown_name():
    with pytest.raises(DatasetError, match="unknown dataset 'svhn'"):
        load_dataset("svhn")
    assert issubclass(DatasetError, ValueError)


def test_nothing_found(tmp_path):
    with pytest.raises(DatasetError, match="no MNIST data found.*download=True") as e:
        load_dataset("mnist", tmp_path)
    assert "\n" not in str(e.value)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset("mnist", tmp_path / "nope")


def test_missing_file_named(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.*missing"):
        load_dataset("mnist", tmp_path)


# --------------------------------------------------------------------------------------------
# Synthetic IDX: corruption
# --------------------------------------------------------------------------------------------


def test_bad_magic(tmp_path):
    write_idx_set(tmp_path, gz=False)
    p = tmp_path / IDX_NAMES["train_x"]
    # labels file where images are expected
    p.write_bytes(idx_bytes(np.zeros(12, np.uint8)))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte: bad magic 2049 \(expected 2051"):
        load_dataset("mnist", tmp_path)


def test_truncated_raw(tmp_path):
    write_idx_set(tmp_path, gz=False)
    p = tmp_path / IDX_NAMES["test_x"]
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte: truncated"):
        load_dataset("mnist", tmp_path)


def test_truncated_gzip(tmp_path):
    write_idx_set(tmp_path, gz=True)
    p = tmp_path / (IDX_NAMES["train_x"] + ".gz")
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz: .*(truncated|corrupt)") as e:
        load_dataset("mnist", tmp_path)
    assert "\n" not in str(e.value)


def test_corrupt_gzip_crc(tmp_path):
    write_idx_set(tmp_path, gz=True)
    p = tmp_path / (IDX_NAMES["train_y"] + ".gz")
    b = bytearray(p.read_bytes())
    b[-8] ^= 0xFF  # CRC32 in the trailer
    p.write_bytes(bytes(b))
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz: corrupt"):
        load_dataset("mnist", tmp_path)


def test_extra_bytes_wrong_size(tmp_path):
    write_idx_set(tmp_path, gz=False)
    p = tmp_path / IDX_NAMES["train_y"]
    p.write_bytes(p.read_bytes() + b"\x00\x01")
    with pytest.raises(DatasetError, match="train-labels-idx1-ubyte: wrong size"):
        load_dataset("mnist", tmp_path)


def test_count_mismatch(tmp_path):
    write_idx_set(tmp_path, n_train=12)
    (tmp_path / (IDX_NAMES["train_y"] + ".gz")).write_bytes(
        gzip.compress(idx_bytes(np.zeros(11, np.uint8))))
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: 12 images but "
                                           "train-labels-idx1-ubyte.gz has 11 labels"):
        load_dataset("mnist", tmp_path)


def test_label_out_of_range(tmp_path):
    write_idx_set(tmp_path)
    (tmp_path / (IDX_NAMES["test_y"] + ".gz")).write_bytes(
        gzip.compress(idx_bytes(np.full(7, 10, np.uint8))))
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte.gz: label 10 out of range"):
        load_dataset("mnist", tmp_path)


def test_md5_policy(tmp_path):
    write_idx_set(tmp_path, n_test=10000)  # official test-set size: checked by default
    with pytest.raises(DatasetError, match="t10k-images-idx3-ubyte.gz: md5 mismatch"):
        load_dataset("mnist", tmp_path)
    ds = load_dataset("mnist", tmp_path, verify=False)
    assert ds.test_x.shape[0] == 10000
    small = tmp_path / "small"
    write_idx_set(small)  # not official size: structure only by default, md5 when asked
    load_dataset("mnist", small)
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte.gz: md5 mismatch"):
        load_dataset("mnist", small, verify=True)


# --------------------------------------------------------------------------------------------
# Synthetic CIFAR-10
# --------------------------------------------------------------------------------------------

CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def make_cifar(n=4, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    return {b: (rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                rng.integers(0, 10, n).astype(np.uint8)) for b in CIFAR_BATCHES}


def cifar_bin_bytes(x, y) -> bytes:
    return np.concatenate([y[:, None], x], axis=1).tobytes()


def cifar_py_bytes(x, y) -> bytes:
    # like the official (python 2) batches: bytes keys, numpy data, list labels
    return pickle.dumps({b"batch_label": b"x", b"data": x, b"labels": [int(v) for v in y]},
                        protocol=2)


def write_cifar_dir(d: Path, batches: dict, kind="bin"):
    d.mkdir(parents=True, exist_ok=True)
    for b, (x, y) in batches.items():
        if kind == "bin":
            (d / f"{b}.bin").write_bytes(cifar_bin_bytes(x, y))
        else:
            (d / b).write_bytes(cifar_py_bytes(x, y))


def write_cifar_tar(path: Path, batches: dict, kind="bin", skip=(), order=None):
    folder = "cifar-10-batches-bin" if kind == "bin" else "cifar-10-batches-py"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(folder)
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
        for b in order or batches:
            if b in skip:
                continue
            x, y = batches[b]
            data = cifar_bin_bytes(x, y) if kind == "bin" else cifar_py_bytes(x, y)
            name = f"{folder}/{b}.bin" if kind == "bin" else f"{folder}/{b}"
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        meta = b"airplane\n"
        info = tarfile.TarInfo(f"{folder}/batches.meta.txt")
        info.size = len(meta)
        tf.addfile(info, io.BytesIO(meta))


def _assert_cifar(ds: Dataset, batches: dict):
    xs = np.concatenate([batches[b][0] for b in CIFAR_BATCHES[:5]]).reshape(-1, 3, 32, 32)
    ys = np.concatenate([batches[b][1] for b in CIFAR_BATCHES[:5]]).astype(np.int64)
    np.testing.assert_array_equal(ds.train_x, xs)
    np.testing.assert_array_equal(ds.train_y, ys)
    np.testing.assert_array_equal(ds.test_x, batches["test_batch"][0].reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(ds.test_y, batches["test_batch"][1].astype(np.int64))
    assert ds.train_x.dtype == np.uint8 and ds.train_y.dtype == np.int64
    assert ds.mean == (0.485, 0.456, 0.406) and ds.std == (0.229, 0.224, 0.225)


@pytest.mark.parametrize("kind", ["bin", "py"])
@pytest.mark.parametrize("layout", ["leaf", "parent", "grandparent"])
def test_cifar_folders(tmp_path, kind, layout):
    batches = make_cifar()
    sub = {"bin": "cifar-10-batches-bin", "py": "cifar-10-batches-py"}[kind]
    if layout == "leaf":
        write_cifar_dir(tmp_path, batches, kind)
    elif layout == "parent":
        write_cifar_dir(tmp_path / sub, batches, kind)
    else:
        write_cifar_dir(tmp_path / "cifar10" / sub, batches, kind)
    _assert_cifar(load_dataset("cifar10", tmp_path), batches)


@pytest.mark.parametrize("kind", ["bin", "py"])
def test_cifar_tarball_any_member_order(tmp_path, kind):
    batches = make_cifar(seed=5)
    name = "cifar-10-binary.tar.gz" if kind == "bin" else "cifar-10-python.tar.gz"
    write_cifar_tar(tmp_path / name, batches, kind, order=CIFAR_BATCHES[::-1])
    _assert_cifar(load_dataset("cifar-10", tmp_path), batches)
    _assert_cifar(load_dataset("cifar10", tmp_path / name), batches)  # the tarball itself


def test_cifar_tar_missing_member(tmp_path):
    write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", make_cifar(), skip=("data_batch_3",))
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz: archive lacks data_batch_3.bin"):
        load_dataset("cifar10", tmp_path)


def test_cifar_tar_truncated(tmp_path):
    p = tmp_path / "cifar-10-binary.tar.gz"
    write_cifar_tar(p, make_cifar(n=50))
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])
    with pytest.raises(DatasetError, match="cifar-10-binary.tar.gz: .*truncated") as e:
        load_dataset("cifar10", tmp_path)
    assert "\n" not in str(e.value)


def test_cifar_tar_member_md5_when_asked(tmp_path):
    write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", make_cifar())
    with pytest.raises(DatasetError, match=r"cifar-10-binary.tar.gz:cifar-10-batches-bin/"
                                           r"data_batch_\d.bin: md5 mismatch"):
        load_dataset("cifar10", tmp_path, verify=True)


def test_cifar_bin_wrong_size(tmp_path):
    write_cifar_dir(tmp_path, make_cifar())
    p = tmp_path / "data_batch_2.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DatasetError, match="data_batch_2.bin: wrong size"):
        load_dataset("cifar10", tmp_path)


def test_cifar_missing_batch(tmp_path):
    write_cifar_dir(tmp_path, make_cifar())
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DatasetError, match="test_batch.bin: missing"):
        load_dataset("cifar10", tmp_path)


def test_cifar_bad_label(tmp_path):
    batches = make_cifar()
    batches["data_batch_4"][1][0] = 200
    write_cifar_dir(tmp_path, batches)
    with pytest.raises(DatasetError, match="data_batch_4.bin: label 200 out of range"):
        load_dataset("cifar10", tmp_path)


def test_cifar_py_count_mismatch(tmp_path):
    batches = make_cifar()
    write_cifar_dir(tmp_path, batches, "py")
    x, y = batches["data_batch_1"]
    (tmp_path / "data_batch_1").write_bytes(
        pickle.dumps({b"data": x, b"labels": [int(v) for v in y[:-1]]}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_1: 4 images but 3 labels"):
        load_dataset("cifar10", tmp_path)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_cifar_py_refuses_arbitrary_pickles(tmp_path):
    write_cifar_dir(tmp_path, make_cifar(), "py")
    (tmp_path / "data_batch_5").write_bytes(pickle.dumps({b"data": _Evil()}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_5: not a CIFAR-10 python batch.*refusing"):
        load_dataset("cifar10", tmp_path)


# --------------------------------------------------------------------------------------------
# Dataset record
# --------------------------------------------------------------------------------------------


def _tiny_ds(c=3) -> Dataset:
    x = np.arange(2 * c * 4, dtype=np.uint8).reshape(2, c, 2, 2)
    return Dataset(name="t", train_x=x, train_y=np.array([0, 1]), test_x=x, test_y=np.array([1, 0]),
                   classes=[str(i) for i in range(10)], mean=[0.5] * c, std=[0.25] * c)


def test_normalized_values():
    ds = _tiny_ds()
    x = np.array([0, 255, 51, 128], dtype=np.uint8).reshape(1, 1, 2, 2).repeat(3, axis=1)
    z = ds.normalized(x)
    assert z.dtype == np.float32 and z.shape == x.shape
    np.testing.assert_allclose(z[0, 0].ravel(), (np.array([0, 255, 51, 128]) / 255 - 0.5) / 0.25,
                               rtol=1e-6, atol=1e-6)
    assert ds.normalized(x[0]).shape == (3, 2, 2)  # single image
    with pytest.raises(TypeError):
        ds.normalized(x.astype(np.float32))
    with pytest.raises(ValueError):
        ds.normalized(x[:, :1])


def test_dataset_frozen_and_validated():
    ds = _tiny_ds()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.name = "other"
    assert ds.classes == tuple(str(i) for i in range(10)) and ds.input_shape == (3, 2, 2)
    assert "train=2" in repr(ds)
    with pytest.raises(ValueError):
        Dataset(name="t", train_x=ds.train_x, train_y=np.array([0]), test_x=ds.test_x,
                test_y=ds.test_y, classes=ds.classes, mean=ds.mean, std=ds.std)


# --------------------------------------------------------------------------------------------
# Downloading (offline: file:// mirrors)
# --------------------------------------------------------------------------------------------


def _mirror(tmp_path, monkeypatch, name="mnist"):
    """Serve a synthetic MNIST from a local folder through file:// URLs."""
    src = tmp_path / "mirror"
    arrays = write_idx_set(src, seed=9)
    md5s = {f"{IDX_NAMES[k]}.gz": hashlib.md5((src / f"{IDX_NAMES[k]}.gz").read_bytes()).hexdigest()
            for k in IDX_NAMES}
    monkeypatch.setitem(datasets.DOWNLOADS, name, md5s)
    monkeypatch.setitem(datasets.MIRRORS, name,
                        ((tmp_path / "dead").as_uri() + "/", src.as_uri() + "/"))
    return arrays, md5s


def test_download_via_file_url(tmp_path, monkeypatch):
    arrays, _ = _mirror(tmp_path, monkeypatch)
    calls = []
    ds = load_dataset("mnist", tmp_path / "data", download=True,
                      progress=lambda d, done, total: calls.append((d, done, total)))
    _assert_same(ds, arrays)
    target = tmp_path / "data" / "mnist"
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{n}.gz" for n in IDX_NAMES.values())
    assert {c[0] for c in calls} == {f"mnist/{n}.gz" for n in IDX_NAMES.values()}
    assert all(c[2] is not None and c[1] <= c[2] for c in calls)
    assert any(c[1] == c[2] > 0 for c in calls)
    # present now: a second call must not touch the network
    monkeypatch.setattr(datasets, "_urlopen", lambda *a, **k: pytest.fail("downloaded again"))
    _assert_same(load_dataset("mnist", tmp_path / "data", download=True), arrays)


def test_download_into_default_cache(tmp_path, monkeypatch):
    arrays, _ = _mirror(tmp_path, monkeypatch)
    _assert_same(load_dataset("mnist", download=True), arrays)
    assert (tmp_path / "xdg-cache" / "pbitsim" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_download_md5_mismatch_leaves_nothing(tmp_path, monkeypatch):
    _, md5s = _mirror(tmp_path, monkeypatch)
    md5s["t10k-images-idx3-ubyte.gz"] = "0" * 32
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte\.gz: download failed.*md5 mismatch") as e:
        load_dataset("mnist", tmp_path / "data", download=True)
    assert "\n" not in str(e.value)
    target = tmp_path / "data" / "mnist"
    assert not (target / "t10k-images-idx3-ubyte.gz").exists()
    assert not [p for p in target.iterdir() if p.name.endswith(".part")]


def test_download_opener_error(tmp_path, monkeypatch):
    _mirror(tmp_path, monkeypatch)

    def offline(url, timeout=None):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets, "_urlopen", offline)
    with pytest.raises(DatasetError, match="download failed.*network is unreachable"):
        load_dataset("mnist", tmp_path / "data", download=True)
    assert not list((tmp_path / "data" / "mnist").iterdir())


def test_download_cifar_tarball(tmp_path, monkeypatch):
    batches = make_cifar(seed=7)
    src = tmp_path / "mirror"
    src.mkdir()
    write_cifar_tar(src / "cifar-10-binary.tar.gz", batches)
    md5 = hashlib.md5((src / "cifar-10-binary.tar.gz").read_bytes()).hexdigest()
    monkeypatch.setitem(datasets.DOWNLOADS, "cifar10", {"cifar-10-binary.tar.gz": md5})
    monkeypatch.setitem(datasets.MIRRORS, "cifar10", (src.as_uri() + "/",))
    dest = tmp_path / "cifar10"  # a leaf folder named like the dataset: files go straight in
    _assert_cifar(load_dataset("cifar10", dest, download=True), batches)
    assert (dest / "cifar-10-binary.tar.gz").is_file()
