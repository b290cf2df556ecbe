"""The IDX reader on the real Fashion-MNIST files, and on broken ones."""

from __future__ import annotations

import dataclasses
import gzip
import shutil

import numpy as np
import pytest

from harness.data import (
    CONTENT_SHA256,
    OS_PACKAGE_DIR,
    candidate_dirs,
    find_data_dir,
    load_fashion_mnist,
    read_idx,
    seeded_subset,
)
from harness.datasets import REGISTRY
from harness.errors import HarnessError


def test_real_dataset_shapes_counts_and_classes(fashion_mnist):
    d = fashion_mnist
    assert d.train_x.shape == (60_000, 1, 28, 28) and d.train_x.dtype == np.float32
    assert d.test_x.shape == (10_000, 1, 28, 28)
    assert d.train_y.dtype == np.int64 and d.test_y.shape == (10_000,)
    assert np.bincount(d.train_y).tolist() == [6_000] * 10
    assert np.bincount(d.test_y).tolist() == [1_000] * 10
    assert d.train_x.min() == 0.0 and d.train_x.max() == 1.0
    # A known pixel statistic of the training set (mean intensity 72.94 / 255).
    assert float(d.train_x.mean()) == pytest.approx(0.2860, abs=1e-4)


def test_subset_is_seeded_and_fixed():
    a, b = seeded_subset(60_000, 2048, 0), seeded_subset(60_000, 2048, 0)
    assert np.array_equal(a, b) and len(np.unique(a)) == 2048
    assert not np.array_equal(a, seeded_subset(60_000, 2048, 1))
    assert seeded_subset(60_000, None, 0) is None and seeded_subset(60_000, 60_000, 0) is None


def test_subset_loads_the_requested_sizes():
    d = load_fashion_mnist(download=False, train_size=2048, test_size=500)
    assert d.train_x.shape == (2048, 1, 28, 28) and d.test_y.shape == (500,)


def _copy_dataset(tmp_path):
    src = find_data_dir(download=False)
    for stem in CONTENT_SHA256:
        name = stem + ".gz" if (src / (stem + ".gz")).exists() else stem
        shutil.copy(src / name, tmp_path / name)
    return tmp_path


def test_raw_uncompressed_files_read_the_same(tmp_path):
    src = find_data_dir(download=False)
    with gzip.open(src / "t10k-labels-idx1-ubyte.gz") as f:
        (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(f.read())
    raw = read_idx(tmp_path / "t10k-labels-idx1-ubyte")
    assert raw.shape == (10_000,) and np.array_equal(raw, read_idx(src / "t10k-labels-idx1-ubyte.gz"))


def test_truncated_file_gives_a_clear_error(tmp_path):
    src = find_data_dir(download=False)
    with gzip.open(src / "t10k-images-idx3-ubyte.gz") as f:
        data = f.read()
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(HarnessError, match="truncated or corrupt"):
        read_idx(path)


def test_changed_content_fails_the_checksum(tmp_path):
    src = find_data_dir(download=False)
    with gzip.open(src / "t10k-labels-idx1-ubyte.gz") as f:
        data = bytearray(f.read())
    data[100] = (data[100] + 1) % 10
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(bytes(data))
    with pytest.raises(HarnessError, match="SHA-256"):
        read_idx(path)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x08\x03" + b"\x00" * 20)
    with pytest.raises(HarnessError, match="magic number"):
        read_idx(path)


def test_broken_gzip(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(HarnessError, match="cannot read"):
        read_idx(path)


def test_lookup_order_prefers_config_then_environment(tmp_path, monkeypatch):
    copy = tmp_path / "copy"
    copy.mkdir()
    _copy_dataset(copy)
    monkeypatch.setenv("HARNESS_DATA", "/nonexistent/env")
    labels = [label for label, _ in candidate_dirs(str(copy))]
    # HARNESS_DATA: its fashion_mnist/ folder first, then the folder itself
    assert labels == ["data.root", "HARNESS_DATA", "HARNESS_DATA", "OS package", "user cache"]
    assert find_data_dir(str(copy), download=False) == copy
    monkeypatch.setenv("HARNESS_DATA", str(copy))
    assert find_data_dir(None, download=False) == copy


def test_missing_everywhere_lists_every_place_and_both_fixes(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA", raising=False)  # when set, it must hold the files (next test)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    info = REGISTRY["fashion_mnist"]
    monkeypatch.setitem(REGISTRY, "fashion_mnist", dataclasses.replace(info, os_package_dir=str(tmp_path / "os")))
    with pytest.raises(HarnessError) as info:
        find_data_dir(None, download=False)
    message = str(info.value)
    assert "\n" not in message
    for place in ("os", "cache"):
        assert str(tmp_path / place) in message
    assert "apt-get install dataset-fashion-mnist" in message and "data.download=true" in message
    assert OS_PACKAGE_DIR.name == "fashion-mnist"


def test_a_harness_data_without_the_files_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path / "env"))
    with pytest.raises(HarnessError, match=r"HARNESS_DATA='.*env' holds neither the 4 Fashion-MNIST files"):
        find_data_dir(None, download=False)


def test_an_explicit_root_without_the_files_is_an_error_not_a_fallback(tmp_path):
    # The OS package copy exists on this machine; data.root must not silently fall through to it.
    assert find_data_dir(None, download=False) is not None
    with pytest.raises(HarnessError, match=r"data.root='.*nowhere' does not hold the 4 Fashion-MNIST files"):
        find_data_dir(str(tmp_path / "nowhere"), download=False)
