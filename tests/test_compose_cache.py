"""harness/compose_cache.py: plot-schedule's stored configs are Hydra's, for every option of every
config group, and are never read back for inputs other than the ones that made them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading

import pytest
from omegaconf import OmegaConf

from harness import compose_cache
from harness import preflight as preflight_module
from harness.cli import CONFIG_GROUPS, compose_run, group_options, preflight
from harness.errors import HarnessError
from harness.schema import Plain, as_dict
from harness.validate import validate
from tests.conftest import FRAMEWORK_MODULES, PROJECT_ROOT

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow



@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_COMPOSE_CACHE", str(tmp_path / "composed"))
    return tmp_path / "composed"


def hydra_off(monkeypatch):
    """From here on, a config that does not come from the cache fails the test."""
    def composing(args):
        raise AssertionError(f"composed {args} with Hydra instead of reading the cache")

    monkeypatch.setattr(preflight_module, "_compose_and_validate", composing)


def entry(args: list[str]):
    path = compose_cache.folder() / f"{compose_cache.key(args)}.json"
    return json.loads(path.read_text())["configs"] if path.exists() else None


def plot_args(group: str, option: str) -> list[str]:
    """What plot-schedule hands the preflight for ``group=option`` (a preset may hold a sweep: -m)."""
    from tests.conftest import alone_needs

    return ["-m", f"{group}={option}"] if group == "experiments" else [f"{group}={option}", *alone_needs(option)]


@pytest.mark.parametrize("group, option", [(g, o) for g in CONFIG_GROUPS for o in group_options(g)])
def test_the_cached_configs_are_hydras_for_every_option_of_every_group(group, option, cache, monkeypatch):
    args = plot_args(group, option)
    try:
        composed = preflight(args, cached=True)  # a miss: Hydra composes, and the cache keeps it
    except HarnessError as exc:  # an option this machine cannot run (a sink's package missing)
        assert not cache.exists() or not list(cache.glob("*.json")), "an error is never stored"
        hydra_off(monkeypatch)
        with pytest.raises(HarnessError) as again:
            preflight(args, cached=True)
        assert str(again.value) == str(exc)
        return
    stored = entry(args)
    if stored is None:  # an interpolation took part (experiments/optimizers.yaml): never cached
        assert group == "experiments", f"{group}={option} composes without interpolations, so it is cached"
        return
    hydra_off(monkeypatch)
    cached = preflight(args, cached=True)
    assert [json.dumps(as_dict(c)) for c in cached] == [json.dumps(as_dict(c)) for c in composed]
    # The entry holds what Hydra composed; validated, it is the runs (types too: 1, 1.0 and True differ)
    assert compose_cache._same([as_dict(validate(Plain.of(plain))) for plain in stored], [as_dict(c) for c in composed])
    if "-m" not in args:  # one run: the very config Hydra's compose API gives
        hydra = OmegaConf.to_container(compose_run(args), resolve=True)
        assert compose_cache._same(stored, [hydra])


@pytest.mark.parametrize("args", [
    ["scheduler=onecycle", "epochs=30"],
    ["-m", "scheduler=cosine,onecycle,wsd"],
    ["-m", "scheduler=onecycle,cyclic", "scheduler.cycle_momentum=true", "optimizer.momentum=0.9"],
    ["scheduler=multifactor", "scheduler.milestones=[10,20]", "data.train_size=2048", "optimizer=adam"],
    ["-m", "experiments=quick", "epochs=4", "seed=0,1"],
])
def test_the_cached_configs_are_hydras_with_value_overrides_and_sweeps(args, cache, monkeypatch):
    composed = [as_dict(c) for c in preflight(args, cached=True)]  # a miss: Hydra's configs
    hydra_off(monkeypatch)
    assert compose_cache._same([as_dict(c) for c in preflight(args, cached=True)], composed)


def test_errors_and_interpolations_are_not_stored_and_fail_as_without_the_cache(cache):
    for bad in (["epochs=0"], ["scheduler=cosin"], ["epocs=3"], ["scheduler.base_lr=-0.1"]):
        with pytest.raises(HarnessError) as plain:
            preflight(bad)
        with pytest.raises(HarnessError) as cached:
            preflight(bad, cached=True)
        assert str(cached.value) == str(plain.value)
    follows = ["scheduler=cosine", "scheduler.total_steps=${epochs}", "epochs=7"]
    assert preflight(follows, cached=True)[0].scheduler.total_steps == 7
    assert not cache.exists() or not list(cache.glob("*.json"))


def test_an_entry_is_validated_again_on_every_use(cache, monkeypatch):
    args = ["scheduler=cosine"]
    preflight(args, cached=True)
    path = cache / f"{compose_cache.key(args)}.json"
    entry_ = json.loads(path.read_text())
    entry_["configs"][0]["epochs"] = 0
    path.write_text(json.dumps(entry_))
    hydra_off(monkeypatch)
    with pytest.raises(HarnessError, match="epochs=0 must be at least 1"):
        preflight(args, cached=True)


def test_the_key_follows_every_input_of_the_composition(tmp_path, monkeypatch):
    root = tmp_path / "project"
    for name in ("conf", "experiments"):
        shutil.copytree(PROJECT_ROOT / name, root / name)
    for name in compose_cache.CODE:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_ROOT / name, root / name)
    monkeypatch.setattr(compose_cache, "PROJECT_ROOT", root)
    monkeypatch.setattr(compose_cache, "CONF_DIR", root / "conf")
    monkeypatch.setattr(compose_cache, "EXPERIMENTS_DIR", root / "experiments")
    args = ["scheduler=onecycle"]
    keys = [compose_cache.key(args)]
    assert compose_cache.key(args) == keys[0]  # the same inputs, the same key
    keys.append(compose_cache.key(["scheduler=onecycle", "epochs=30"]))
    edits = [
        lambda: (root / "conf/scheduler/onecycle.yaml").write_text((root / "conf/scheduler/onecycle.yaml").read_text() + "\n"),
        lambda: (root / "conf/config.yaml").write_text((root / "conf/config.yaml").read_text().replace("epochs: 30", "epochs: 31")),
        lambda: (root / "conf/optimizer/lion.yaml").write_text("name: lion\n"),  # a new option
        lambda: (root / "experiments/quick.yaml").write_text((root / "experiments/quick.yaml").read_text() + "# x\n"),
        lambda: (root / "harness/schema.py").write_text((root / "harness/schema.py").read_text() + "# x\n"),
        lambda: (root / "harness/preflight.py").write_text((root / "harness/preflight.py").read_text() + "# x\n"),
    ]
    for edit in edits:
        edit()
        keys.append(compose_cache.key(args))
    monkeypatch.setattr(compose_cache, "VERSIONS", (("hydra", "errors.py"), ("omegaconf", "version.py")))
    keys.append(compose_cache.key(args))  # stands for another Hydra version
    assert len(set(keys)) == len(keys)


def test_concurrent_writers_and_readers_see_a_whole_entry_or_none(cache):
    args = ["scheduler=cosine"]
    configs = [as_dict(preflight(args)[0])]
    seen, failures = [], []

    def write():
        for _ in range(20):
            compose_cache.store(args, configs)

    def read():
        for _ in range(200):
            got = compose_cache.load(args)
            if got is not None and not compose_cache._same(got, configs):
                failures.append(got)
            seen.append(got is not None)

    threads = [threading.Thread(target=write) for _ in range(4)] + [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and any(seen)
    assert [p.name for p in cache.iterdir()] == [f"{compose_cache.key(args)}.json"]  # no temporary file left


def test_an_unreadable_entry_is_a_miss_and_an_unwritable_folder_only_costs_the_speed(cache, tmp_path, monkeypatch):
    args = ["scheduler=wsd"]
    cache.mkdir(parents=True)
    (cache / f"{compose_cache.key(args)}.json").write_text('{"configs": [{"epochs": ')  # half a file
    assert compose_cache.load(args) is None
    assert preflight(args, cached=True)[0].scheduler.name == "wsd"
    assert compose_cache.load(args) is not None  # composed again and stored whole
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("HARNESS_COMPOSE_CACHE", str(blocked / "composed"))  # cannot be made
    assert preflight(args, cached=True)[0].scheduler.name == "wsd"


def test_old_entries_are_pruned(cache, monkeypatch):
    monkeypatch.setattr(compose_cache, "KEEP", 3)
    configs = [as_dict(preflight(["scheduler=cosine"])[0])]
    for seed in range(6):
        compose_cache.store([f"seed={seed}"], configs)
        os.utime(cache / f"{compose_cache.key([f'seed={seed}'])}.json", (seed, seed))
    compose_cache.store(["seed=9"], configs)
    assert len(list(cache.glob("*.json"))) == 3
    assert compose_cache.load(["seed=9"]) is not None and compose_cache.load(["seed=0"]) is None
    # A hit marks the entry used: the least recently used goes first, not the oldest written.
    assert compose_cache.load(["seed=4"]) is not None  # written before seed=5, used after it
    compose_cache.store(["seed=10"], configs)
    assert compose_cache.load(["seed=4"]) is not None and compose_cache.load(["seed=5"]) is None


def test_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_COMPOSE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compose_cache.folder() == tmp_path / "harness" / "composed"
    monkeypatch.setenv("HARNESS_COMPOSE_CACHE", str(tmp_path / "elsewhere"))
    assert compose_cache.folder() == tmp_path / "elsewhere"


def test_a_cache_hit_imports_neither_hydra_nor_omegaconf_nor_a_framework(tmp_path):
    out = tmp_path / "onecycle.png"
    code = (
        "import sys, json\n"
        "from harness.cli import main\n"
        "try:\n"
        f"    main(['plot-schedule', 'scheduler=onecycle', 'epochs=30', 'plot.out={out}'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        f"print(json.dumps(sorted(m for m in ('hydra', 'omegaconf', *{FRAMEWORK_MODULES!r}) if m in sys.modules)))\n"
    )
    env = dict(os.environ, HARNESS_COMPOSE_CACHE=str(tmp_path / "composed"))
    loaded = []
    for _ in range(2):  # the first composes with Hydra and stores; the second reads the cache
        proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                              env=env)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == str(out)
        loaded.append(json.loads(proc.stdout.splitlines()[-1]))
    assert loaded == [["hydra", "omegaconf"], []]


def test_the_key_reads_only_plugin_folders_that_exist(tmp_path, monkeypatch):
    # A `pip install -e .` lists a path-hook placeholder, not a folder, among hydra_plugins' locations
    # (seen in CI's clean clone): the key skips it and still follows the folders that do exist.
    from importlib.machinery import ModuleSpec

    plugins = tmp_path / "hydra_plugins"
    plugins.mkdir()
    spec = ModuleSpec("hydra_plugins", None, is_package=True)
    spec.submodule_search_locations = ["__editable__.lr_harness-0.1.0.finder.__path_hook__", str(plugins)]
    monkeypatch.setattr(compose_cache, "find_spec", lambda name: spec if name == "hydra_plugins" else None)
    before = compose_cache.key(["scheduler=onecycle"])
    (plugins / "another_launcher").mkdir()
    assert compose_cache.key(["scheduler=onecycle"]) != before
