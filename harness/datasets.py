"""The dataset registry: every fact about each dataset the harness can load, written once.

Name, title, sizes, input shape, classes, files, checksums, where to look and where to download
from. The readers (harness/data.py) and every check of a config (sizes in harness/validate.py,
the plan, the report) read them from here. Foundation layer: plain facts, no numpy, no I/O.

Checksums: a file is trusted only if what was read matches a checksum recorded here. For the IDX
sets, ``content_sha256`` is the SHA-256 of the decompressed file (repackagers such as Debian
recompress the ``.gz`` archives, which changes the archive's bytes but not the images);
``archive_md5`` is the MD5 of the publisher's ``.gz`` archive, as torchvision records them. A
dataset with neither for a file is refused (``harness.data``), never loaded unverified. The
generated and bundled sets record the SHA-256 of the arrays they decode to.

A new dataset is one entry here, plus a reader in harness/data.py if its format is new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class FileCheck:
    content_sha256: str | None = None  # of the decompressed file
    archive_md5: str | None = None  # of the publisher's .gz archive


@dataclass(frozen=True)
class DatasetInfo:
    name: str  # data.name, and the `dataset` column of every result row
    title: str
    reader: str  # idx | sklearn_digits | mnist1d (harness.data.READERS)
    train_size: int  # examples in the training split (a validation split is carved out of it)
    test_size: int
    input_shape: tuple[int, int, int]  # (C, H, W) as the adapters receive it
    num_classes: int
    # split -> (images file, labels file) for file-based sets; empty for generated ones
    splits: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    files: Mapping[str, FileCheck] = field(default_factory=dict)
    # generated or bundled sets: "<split>_x" / "<split>_y" -> SHA-256 of the decoded array's bytes
    array_sha256: Mapping[str, str] = field(default_factory=dict)
    os_package_dir: str | None = None  # where a system package puts the files
    install_hint: str | None = None  # how to get it without the download
    download_url: str | None = None  # files are fetched from download_url + file + ".gz"
    cache_name: str | None = None  # folder under the user cache (~/.cache/harness/<cache_name>)
    python_package: str | None = None  # the pip package a bundled or generated set comes from

    def split_size(self, split: str) -> int:
        return self.train_size if split == "train" else self.test_size


_IDX_SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="fashion_mnist", title="Fashion-MNIST", reader="idx", train_size=60_000, test_size=10_000,
            input_shape=(1, 28, 28), num_classes=10, splits=_IDX_SPLITS,
            # Measured on the files of Debian's dataset-fashion-mnist package (identical content to upstream).
            files={
                "train-images-idx3-ubyte": FileCheck("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
                "train-labels-idx1-ubyte": FileCheck("bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
                "t10k-images-idx3-ubyte": FileCheck("5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
                "t10k-labels-idx1-ubyte": FileCheck("0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
            },
            os_package_dir="/usr/share/datasets/fashion-mnist",
            install_hint="`apt-get install dataset-fashion-mnist`",
            download_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            cache_name="fashion-mnist",
        ),
        DatasetInfo(
            name="mnist", title="MNIST", reader="idx", train_size=60_000, test_size=10_000,
            input_shape=(1, 28, 28), num_classes=10, splits=_IDX_SPLITS,
            # The publisher's archives (torchvision's MNIST.resources); LeCun's own site now
            # refuses downloads, so the archives come from PyTorch's copy of them.
            files={
                "train-images-idx3-ubyte": FileCheck(archive_md5="f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                "train-labels-idx1-ubyte": FileCheck(archive_md5="d53e105ee54ea40749a09fcbcd1e9432"),
                "t10k-images-idx3-ubyte": FileCheck(archive_md5="9fb629c4189551a2d022fa330f9573f3"),
                "t10k-labels-idx1-ubyte": FileCheck(archive_md5="ec29112dd5afa0611ce80d1b7f02629c"),
            },
            download_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
            cache_name="mnist",
        ),
        DatasetInfo(
            name="kmnist", title="Kuzushiji-MNIST", reader="idx", train_size=60_000, test_size=10_000,
            input_shape=(1, 28, 28), num_classes=10, splits=_IDX_SPLITS,
            files={  # torchvision's KMNIST.resources
                "train-images-idx3-ubyte": FileCheck(archive_md5="bdb82020997e1d708af4cf47b453dcf7"),
                "train-labels-idx1-ubyte": FileCheck(archive_md5="e144d726b3acfaa3e44228e80efcd344"),
                "t10k-images-idx3-ubyte": FileCheck(archive_md5="5c965bf0a639b31b8f53240b1b52f4d7"),
                "t10k-labels-idx1-ubyte": FileCheck(archive_md5="7320c461ea6c1c855c0b718fb2a4b134"),
            },
            download_url="http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
            cache_name="kmnist",
        ),
        DatasetInfo(
            # scikit-learn's bundled copy of the UCI optical digits test set: 1,797 images of 8x8,
            # values 0-16. It has no split of its own: a stratified 20% (seed 0) is the test set.
            name="digits", title="scikit-learn digits (8x8)", reader="sklearn_digits", train_size=1_437,
            test_size=360, input_shape=(1, 8, 8), num_classes=10,
            array_sha256={
                "train_x": "78900f636ce4c28c2475adf024124aadf89516b71ab1ae6e09c8e29d77151a48",
                "train_y": "f19581419e09cb6eba45975eb539524d73e65b3050a2bd7fdfaefd97794135bc",
                "test_x": "c7974356b0f4c473c7aefb36ce4acbe971019fa8be84f7c812bcff3b668af389",
                "test_y": "a05d5a133b8017e58a0450a33d61326eb126ddf837b5aeaae1ff3e75d569e840",
            },
            python_package="scikit-learn",
        ),
        DatasetInfo(
            # MNIST-1D (Greydanus 2020): 1-D signals of length 40, generated by the `mnist1d`
            # package's published procedure with its default arguments (5,000 examples, seed 42,
            # an 80/20 split), standardised as the package does.
            name="mnist1d", title="MNIST-1D", reader="mnist1d", train_size=4_000, test_size=1_000,
            input_shape=(1, 1, 40), num_classes=10,
            array_sha256={
                "train_x": "d53506bddd12d3b72c7153b1ae7f34807724b1dd078a7273809bf9d0792319f6",
                "train_y": "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15",
                "test_x": "30addc43827c82aafa5db8bc97cea63349ca687e87db2f201cc4f5415d9a4ebd",
                "test_y": "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c",
            },
            python_package="mnist1d",
        ),
    )
}

DATASETS = tuple(REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """The registry's entry; KeyError for a name it lacks (harness.validate refuses those first)."""
    return REGISTRY[name]
