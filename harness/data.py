"""Fashion-MNIST from the original IDX files: find, verify, decode once.

The decoded content (not the archive) is checked against SHA-256 values taken from the
real files, because repackagers (Debian among them) recompress the ``.gz`` files, which
changes the archive bytes but not the images.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import HarnessError

DATASET_NAME = "fashion-mnist"
UPSTREAM_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
OS_PACKAGE_DIR = Path("/usr/share/datasets/fashion-mnist")

# split -> (images file, labels file, number of examples)
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}

# SHA-256 of the *decompressed* IDX files, measured on the files of Debian's
# dataset-fashion-mnist package (identical content to upstream).
CONTENT_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


@dataclass(frozen=True)
class Dataset:
    """Images as float32 in [0, 1] with shape (N, 1, 28, 28); labels as int64."""

    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    source: str
    val_x: np.ndarray | None = None  # the validation split (data.val_size), None without one
    val_y: np.ndarray | None = None


def user_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness" / DATASET_NAME


def candidate_dirs(root: str | None) -> list[tuple[str, Path]]:
    """Where to look, in order: config, environment, OS package, user cache."""
    places = []
    if root:
        places.append(("data.root", Path(root).expanduser()))
    if os.environ.get("HARNESS_DATA"):
        places.append(("HARNESS_DATA", Path(os.environ["HARNESS_DATA"]).expanduser()))
    places.append(("OS package", OS_PACKAGE_DIR))
    places.append(("user cache", user_cache_dir()))
    return places


def _file_in(directory: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _has_all_files(directory: Path) -> bool:
    return all(_file_in(directory, stem) for stem in CONTENT_SHA256)


def find_data_dir(root: str | None = None, download: bool = True) -> Path:
    """Return the first directory holding all four IDX files; download into the cache if allowed."""
    if root and not _has_all_files(Path(root).expanduser()):
        # An explicit place is meant: falling through to another copy would hide the mistake.
        raise HarnessError(
            f"data.root={root!r} does not hold the four Fashion-MNIST files ({', '.join(CONTENT_SHA256)}, "
            f"raw or .gz); fix the path, or leave data.root unset to search the usual places"
        )
    env = os.environ.get("HARNESS_DATA")
    if not root and env and not _has_all_files(Path(env).expanduser()):
        raise HarnessError(
            f"HARNESS_DATA={env!r} does not hold the four Fashion-MNIST files ({', '.join(CONTENT_SHA256)}, "
            f"raw or .gz); fix the path, or unset HARNESS_DATA to search the usual places"
        )
    places = candidate_dirs(root)
    for _, directory in places:
        if _has_all_files(directory):
            return directory
    if download:
        cache = user_cache_dir()
        download_to(cache)
        return cache
    looked = "; ".join(f"{label}: {path}" for label, path in places)
    raise HarnessError(
        f"Fashion-MNIST not found (looked in {looked}); install it with "
        f"`apt-get install dataset-fashion-mnist` or allow the download with data.download=true"
    )


def download_to(directory: Path) -> None:
    """Fetch the four upstream archives atomically into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    for stem in CONTENT_SHA256:
        target = directory / (stem + ".gz")
        if target.is_file():
            continue
        url = UPSTREAM_URL + stem + ".gz"
        try:
            with urllib.request.urlopen(url, timeout=60) as response, tempfile.NamedTemporaryFile(
                dir=directory, prefix="." + stem, delete=False
            ) as tmp:
                shutil.copyfileobj(response, tmp)
        except OSError as exc:
            raise HarnessError(
                f"could not download {url} ({exc}); install Debian's dataset-fashion-mnist "
                f"package or put the four IDX files in a directory and set data.root"
            ) from None
        os.replace(tmp.name, target)
        read_idx(target)  # verify before trusting it


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise HarnessError(f"cannot read {path} ({exc}); delete it and fetch the dataset again") from None


def read_idx(path: Path) -> np.ndarray:
    """Decode one IDX file after checking its magic number, shape and content checksum."""
    path = Path(path)
    stem = path.name.removesuffix(".gz")
    raw = _read_bytes(path)
    expected_hash = CONTENT_SHA256.get(stem)
    if expected_hash is None:
        raise HarnessError(f"{path} is not a Fashion-MNIST file (expected one of {sorted(CONTENT_SHA256)})")
    is_images = "images" in stem
    header_len = 16 if is_images else 8
    if len(raw) < header_len:
        raise HarnessError(f"{path} is truncated ({len(raw)} bytes); delete it and fetch the dataset again")
    magic = int.from_bytes(raw[0:4], "big")
    want_magic = IDX_IMAGES_MAGIC if is_images else IDX_LABELS_MAGIC
    if magic != want_magic:
        raise HarnessError(f"{path} has magic number {magic:#010x}, expected {want_magic:#010x}; it is not an IDX file")
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(3 if is_images else 1)]
    expected_len = header_len + int(np.prod(dims))
    if len(raw) != expected_len:
        raise HarnessError(
            f"{path} holds {len(raw)} bytes but its header {dims} needs {expected_len}; "
            f"the file is truncated or corrupt: delete it and fetch the dataset again"
        )
    if hashlib.sha256(raw).hexdigest() != expected_hash:
        raise HarnessError(
            f"{path} decodes to content whose SHA-256 differs from Fashion-MNIST's; "
            f"delete it and fetch the dataset again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(dims)


def load_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem, count = SPLITS[split]
    images = read_idx(_file_in(directory, images_stem))
    labels = read_idx(_file_in(directory, labels_stem))
    if images.shape != (count, 28, 28) or labels.shape != (count,):
        raise HarnessError(f"{directory} {split} split has shapes {images.shape}/{labels.shape}, expected {count} images")
    return images, labels


def seeded_subset(n_total: int, size: int | None, seed: int) -> np.ndarray | None:
    """Indices of a reproducible subset (sorted, so the class mix is a fair sample), or None for all."""
    if size is None or size >= n_total:
        return None
    if size <= 0:
        raise HarnessError(f"data subset size {size} must be positive")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=size, replace=False))


def stratified_split(labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Sorted indices of ``size`` examples drawn without replacement, each class in proportion
    to its share of ``labels`` (largest remainders decide the last few), from ``seed`` alone."""
    if not 0 < size < len(labels):
        raise HarnessError(f"data.val_size={size} must be between 1 and {len(labels) - 1}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = size * counts / len(labels)
    quotas = np.floor(exact).astype(np.int64)
    short = size - int(quotas.sum())
    quotas[np.argsort(-(exact - quotas), kind="stable")[:short]] += 1
    rng = np.random.default_rng(seed)
    picked = [rng.choice(np.flatnonzero(labels == c), size=q, replace=False) for c, q in zip(classes, quotas)]
    return np.sort(np.concatenate(picked))


def _to_float(images: np.ndarray) -> np.ndarray:
    # Converted once here; adapters never touch uint8.
    return (images.astype(np.float32) / np.float32(255.0))[:, None, :, :]


def load_fashion_mnist(
    root: str | None = None,
    download: bool = True,
    train_size: int | None = None,
    test_size: int | None = None,
    subset_seed: int = 0,
    val_size: int | None = None,
    val_seed: int = 0,
) -> Dataset:
    """The dataset; with ``val_size``, a stratified validation split is carved out of the 60,000
    training images first (from ``val_seed`` alone), and ``train_size`` subsets what is left."""
    directory = find_data_dir(root, download)
    train_images, train_labels = load_split(directory, "train")
    test_images, test_labels = load_split(directory, "test")
    val = {}
    if val_size is not None:
        val_idx = stratified_split(train_labels, val_size, val_seed)
        val = {"val_x": _to_float(train_images[val_idx]), "val_y": train_labels[val_idx].astype(np.int64)}
        rest = np.setdiff1d(np.arange(len(train_labels)), val_idx, assume_unique=True)
        train_images, train_labels = train_images[rest], train_labels[rest]
    train_idx = seeded_subset(len(train_labels), train_size, subset_seed)
    test_idx = seeded_subset(len(test_labels), test_size, subset_seed + 1)
    if train_idx is not None:
        train_images, train_labels = train_images[train_idx], train_labels[train_idx]
    if test_idx is not None:
        test_images, test_labels = test_images[test_idx], test_labels[test_idx]
    return Dataset(
        train_x=_to_float(train_images),
        train_y=train_labels.astype(np.int64),
        test_x=_to_float(test_images),
        test_y=test_labels.astype(np.int64),
        source=str(directory),
        **val,
    )
