"""Writing a report's files: a hidden staging folder for the figures, and files rewritten only
when their bytes change (``make report`` on unchanged results leaves the tree as it was)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


def write_if_changed(path: Path, data: bytes) -> None:
    """Leave a file alone when its bytes would not change (no mtime churn for make)."""
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_report(out: Path, page: str, markdown: str, images: dict[str, bytes]) -> Path:
    """A report's files in ``out``: its PNGs, ``index.html`` and ``report.md``, each rewritten only
    if its bytes changed; returns the page's path."""
    for name, data in images.items():
        write_if_changed(out / name, data)
    write_if_changed(out / "index.html", page.encode("utf-8"))
    write_if_changed(out / "report.md", markdown.encode("utf-8"))
    return out / "index.html"


class staging:
    """A hidden scratch folder inside ``out`` for the PNGs (one per process), removed afterwards."""

    def __init__(self, out: Path):
        self.out = out

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(dir=self.out, prefix=".staging-"))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
