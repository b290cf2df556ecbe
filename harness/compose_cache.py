"""Configs Hydra composed before, kept on disk so that plot-schedule and a study's rereads can skip Hydra.

Importing Hydra and composing a config costs about a second on a small machine, more than the
whole plot. What Hydra composes from a command line depends only on that command line, the YAML
files in ``conf/`` and ``experiments/``, the harness code that drives the composition (the schema
and the preflight), the Hydra and OmegaConf versions and the Hydra plugins installed (a search-path
plugin could add config sources). An entry is stored under a hash of all of
them, so an entry is only ever read back for the very inputs that produced it: edit a YAML file,
the schema or upgrade Hydra and the old entries are simply never looked up again.

What is stored is the preflight's own output before ``validate`` (plain dicts, exactly as Hydra
composed them); ``validate`` runs again on every use. Only successful compositions free of
interpolations (``${...}``, which may read the environment or the clock) are stored
(``harness.preflight.preflight`` decides), so a bad command line always goes through Hydra and gets its
usual one-line error. tests/test_compose_cache.py compares the entries with Hydra's compose for
every option of every config group.

Entries are written to a temporary file and moved into place (``os.replace``), so concurrent
invocations never read half a file; a file that cannot be read is a miss, and a folder that
cannot be written only costs the speed-up.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from harness.paths import CONF_DIR, EXPERIMENTS_DIR, PROJECT_ROOT

# Entries kept; the least recently used beyond this are removed when a new one is written. A study
# rereads a few hundred sweeps per command (the guideline study about 430): a smaller cache would
# evict each entry before its next use and never hit. An entry is 1-20 KB.
KEEP = 4096

# The harness code whose behaviour decides the composed config: the schema Hydra merges into, the
# ConfigStore registration, the preflight (override expansion and replay), and this file's format.
CODE = ("harness/schema.py", "harness/config.py", "harness/preflight.py", "harness/compose_cache.py")
# The files holding the installed Hydra and OmegaConf versions (found without importing either).
VERSIONS = (("hydra", "__init__.py"), ("omegaconf", "version.py"))


def folder() -> Path:
    """``$HARNESS_COMPOSE_CACHE``, else ``<user cache>/harness/composed`` (beside the dataset's cache)."""
    if os.environ.get("HARNESS_COMPOSE_CACHE"):
        return Path(os.environ["HARNESS_COMPOSE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "harness" / "composed"


def key(args: list[str]) -> str:
    """A hash of the command line and of every input of the composition (see the module docstring)."""
    digest = hashlib.sha256()

    def add(label: str, data: bytes) -> None:
        # Length-prefixed, so that no two different sequences of inputs hash the same bytes.
        for part in (label.encode(), data):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)

    add("args", json.dumps(args).encode())
    for root in (CONF_DIR, EXPERIMENTS_DIR):
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            add(f"{root.name}/{path.relative_to(root)}", path.read_bytes())
    for name in CODE:
        add(name, (PROJECT_ROOT / name).read_bytes())
    for package, file in VERSIONS:
        spec = find_spec(package)
        origin = Path(spec.origin).parent / file if spec and spec.origin else None
        add(package, origin.read_bytes() if origin and origin.is_file() else b"missing")
    plugins = find_spec("hydra_plugins")
    # An editable install puts a path-hook placeholder, not a folder, among the namespace's locations.
    folders = [Path(f) for f in (plugins.submodule_search_locations or [])] if plugins else []
    add("hydra_plugins", json.dumps(sorted(p.name for f in folders if f.is_dir() for p in f.iterdir())).encode())
    return digest.hexdigest()


def load(args: list[str]) -> list[dict] | None:
    """The configs stored for this command line and these inputs, or None."""
    path = folder() / f"{key(args)}.json"
    try:
        entry = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # never stored, or unreadable: compose again
    try:
        os.utime(path)  # recently used: pruning removes the least recently used entries
    except OSError:
        pass  # a read-only cache still serves
    configs = entry.get("configs") if isinstance(entry, dict) else None
    return configs if isinstance(configs, list) and all(isinstance(c, dict) for c in configs) else None


def store(args: list[str], configs: list[dict]) -> None:
    """Keep the configs for this command line, if JSON gives them back unchanged."""
    text = json.dumps({"args": args, "configs": configs})
    if not _same(json.loads(text)["configs"], configs):
        return  # a value JSON cannot carry exactly (a tuple, a non-string key): compose every time
    import tempfile  # only a miss writes

    where, name = folder(), f"{key(args)}.json"
    try:
        where.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=where, prefix=".tmp-", suffix=".part")  # not *.json: never read
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, where / name)  # atomic: a reader sees the old file, the new one or none
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(where)
    except OSError:
        pass  # a read-only or full cache folder: the next call composes again, nothing else changes


def _same(a: Any, b: Any) -> bool:
    """Equal with the same types all the way down (``1 == 1.0 == True`` in Python; not here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (a != a and b != b)  # NaN is itself


def _prune(where: Path) -> None:
    entries = sorted(where.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[KEEP:]:
        old.unlink(missing_ok=True)
