"""The framework registry (harness/frameworks.py) is the one list of frameworks: the config group,
the extras, the adapters, the d2l tabs, the report and the studies read it or agree with it."""

from __future__ import annotations

import ast
import sys
import tomllib

import pytest
import yaml

from harness import frameworks
from harness.errors import HarnessError
from harness.frameworks import FRAMEWORKS, Framework
from harness.paths import CONF_DIR
from tests.conftest import PROJECT_ROOT


def test_conf_framework_has_one_file_per_entry_named_as_it():
    files = {p.stem: yaml.safe_load(p.read_text()) for p in (CONF_DIR / "framework").glob("*.yaml")}
    assert set(files) == set(FRAMEWORKS)
    assert {stem: cfg["name"] for stem, cfg in files.items()} == {name: name for name in FRAMEWORKS}


def test_each_extra_is_in_pyproject_and_in_all():
    extras = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for fw in FRAMEWORKS.values():
        assert extras[fw.extra], fw.name
        assert fw.extra in extras["all"][0].split("[", 1)[1].rstrip("]").split(","), fw.name


def test_each_adapter_is_a_class_of_its_module():
    for fw in FRAMEWORKS.values():
        module, cls = fw.adapter.split(":")
        tree = ast.parse((PROJECT_ROOT / (module.replace(".", "/") + ".py")).read_text())
        assert cls in {n.name for n in tree.body if isinstance(n, ast.ClassDef)}, fw.adapter


def test_every_reader_follows_the_registry():
    from harness import d2l_tabs, schema
    from harness.report.load import FRAMEWORK_ORDER, fw_label
    from harness.studies.arms import ALL

    names = tuple(FRAMEWORKS)
    assert names == ("torch", "tf", "mxnet")  # the report's order, PyTorch first
    assert schema.FRAMEWORKS == names and tuple(FRAMEWORK_ORDER) == names and ALL == names
    assert d2l_tabs.TABS == names  # the chapter has a tab for each of the three
    assert set(d2l_tabs.MODEL_BY_TAB) == set(d2l_tabs.INIT_BY_TAB) == set(d2l_tabs.TABS)
    assert [fw_label(n) for n in names] == ["PyTorch", "TensorFlow", "MXNet"]
    assert fw_label("jax") == "jax" and frameworks.order("jax") == 3 and frameworks.order("tf") == 1


def test_the_loader_names_the_extra_of_a_missing_package(monkeypatch, tmp_path):
    """A framework whose package is not installed: one line naming the package and the extra."""
    from adapters import load_adapter

    (tmp_path / "fake_adapter.py").write_text("import not_installed_pkg_xyz\n\nclass FakeAdapter:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(FRAMEWORKS, "fake", Framework("fake", "Fake", "not_installed_pkg_xyz", "fakeextra",
                                                      "fake_adapter:FakeAdapter", d2l_tab=False))
    with pytest.raises(HarnessError, match=r"needs the 'not_installed_pkg_xyz' package.*pip install -e \.\[fakeextra\]"):
        load_adapter("fake")
    monkeypatch.setitem(FRAMEWORKS, "nomodule", Framework("nomodule", "No", "x", "x", "adapters.no_such:X"))
    with pytest.raises(HarnessError, match="framework=nomodule has no adapter in this version"):
        load_adapter("nomodule")
    with pytest.raises(HarnessError, match="framework='jaxx' is unknown; choose one of torch, tf, mxnet"):
        load_adapter("jaxx")
    sys.modules.pop("fake_adapter", None)


def test_unavailable_optimizer_names_the_other_frameworks_of_the_registry():
    from harness.optimizers import check_available

    with pytest.raises(HarnessError, match=r"framework=mxnet: .*; use framework=torch or framework=tf$"):
        check_available("schedule_free_adamw", "mxnet")
