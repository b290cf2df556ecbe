"""The dataset registry and its readers: MNIST and KMNIST through the IDX reader with their own
checksums (on small files this test writes: no network here), refusals, the bundled and
generated sets, and the sizes every check reads from the registry."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib

import numpy as np
import pytest

from harness.data import find_data_dir, load_dataset, read_idx
from harness.datasets import DATASETS, REGISTRY, FileCheck
from harness.errors import HarnessError
from harness.schema import max_train_images, split_images


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 0x803 if array.ndim == 3 else 0x801
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_small_set(folder, name, monkeypatch, train=20, test=10, archive=True):
    """Small IDX files of ``name``'s layout, and the registry entry made to record their
    checksums (the archive MD5s, as MNIST's and KMNIST's real entries do) and sizes."""
    rng = np.random.default_rng(0)
    info = REGISTRY[name]
    arrays = {"train": (rng.integers(0, 256, (train, 28, 28)), np.arange(train) % 10),
              "test": (rng.integers(0, 256, (test, 28, 28)), np.arange(test) % 10)}
    checks = {}
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in arrays.items():
        for stem, array in zip(info.splits[split], (images, labels)):
            raw = idx_bytes(array)
            if archive:
                packed = gzip.compress(raw)
                (folder / (stem + ".gz")).write_bytes(packed)
                checks[stem] = FileCheck(archive_md5=hashlib.md5(packed).hexdigest())
            else:
                (folder / stem).write_bytes(raw)
                checks[stem] = FileCheck(content_sha256=hashlib.sha256(raw).hexdigest())
    monkeypatch.setitem(REGISTRY, name, dataclasses.replace(info, files=checks, train_size=train, test_size=test))
    return arrays


@pytest.mark.parametrize("name", ["mnist", "kmnist"])
def test_mnist_and_kmnist_load_through_the_idx_reader_with_their_own_checksums(name, tmp_path, monkeypatch):
    arrays = write_small_set(tmp_path / name, name, monkeypatch)
    data = load_dataset(name, root=str(tmp_path / name), download=False)
    assert data.train_x.shape == (20, 1, 28, 28) and data.test_y.tolist() == list(np.arange(10) % 10)
    assert np.array_equal(data.train_x[:, 0], (arrays["train"][0] / 255).astype(np.float32))
    # The same bytes under another dataset's name fail that dataset's checksums.
    with pytest.raises(HarnessError, match="differs from the published Fashion-MNIST|SHA-256 differs from Fashion-MNIST"):
        read_idx(tmp_path / name / "t10k-labels-idx1-ubyte.gz", "fashion_mnist")


def test_harness_data_finds_a_datasets_own_folder(tmp_path, monkeypatch):
    write_small_set(tmp_path / "mnist", "mnist", monkeypatch)
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path))
    assert find_data_dir(None, download=False, name="mnist") == tmp_path / "mnist"


def test_a_changed_archive_fails_its_md5(tmp_path, monkeypatch):
    write_small_set(tmp_path, "mnist", monkeypatch)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(10) % 9)))
    with pytest.raises(HarnessError, match="MD5 differs from the published MNIST archive"):
        load_dataset("mnist", root=str(tmp_path), download=False)


def test_a_raw_file_whose_only_checksum_is_the_archives_is_refused(tmp_path, monkeypatch):
    write_small_set(tmp_path, "mnist", monkeypatch)
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(gzip.decompress(path.read_bytes()))
    path.unlink()
    with pytest.raises(HarnessError, match="cannot be verified: only the published .gz archive's MD5"):
        load_dataset("mnist", root=str(tmp_path), download=False)


def test_a_dataset_without_recorded_checksums_is_refused_in_one_line(tmp_path, monkeypatch):
    write_small_set(tmp_path, "kmnist", monkeypatch)
    info = REGISTRY["kmnist"]
    monkeypatch.setitem(REGISTRY, "kmnist", dataclasses.replace(info, files={k: FileCheck() for k in info.files}))
    with pytest.raises(HarnessError) as raised:
        load_dataset("kmnist", root=str(tmp_path), download=False)
    assert "\n" not in str(raised.value) and "no checksum is recorded" in str(raised.value)
    info = REGISTRY["digits"]
    monkeypatch.setitem(REGISTRY, "digits", dataclasses.replace(info, array_sha256={}))
    with pytest.raises(HarnessError, match="data.name=digits: no checksum is recorded for its train_x"):
        load_dataset("digits")


def test_missing_mnist_names_where_it_looked_and_the_download(tmp_path, monkeypatch):
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(HarnessError, match=r"MNIST not found \(looked in user cache: .*mnist\); allow the download"):
        load_dataset("mnist", download=False)
    assert REGISTRY["mnist"].download_url.startswith("https://") and REGISTRY["kmnist"].download_url.endswith("/kmnist/")


def test_digits_and_mnist1d_load_with_the_registry_shapes_and_leave_numpys_generator_alone():
    state = np.random.get_state()[1].copy()
    for name in ("digits", "mnist1d"):
        info = REGISTRY[name]
        data = load_dataset(name, train_size=100, val_size=50)
        assert data.train_x.shape == (100, *info.input_shape) and data.train_x.dtype == np.float32
        assert data.test_x.shape == (info.test_size, *info.input_shape) and data.val_y.shape == (50,)
        assert set(np.unique(data.test_y)) == set(range(info.num_classes))
    assert np.array_equal(np.random.get_state()[1], state)  # mnist1d seeds the global generator


def test_sizes_come_from_the_registry():
    assert DATASETS == ("fashion_mnist", "mnist", "kmnist", "digits", "mnist1d")
    assert max_train_images({"name": "digits", "val_size": 100}) == 1_337
    assert split_images({"name": "mnist1d"}, "test") == 1_000 and max_train_images({"name": "mnist"}) == 60_000
