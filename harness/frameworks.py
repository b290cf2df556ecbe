"""The framework registry: every fact about each framework the harness trains in, written once.

Its option (``framework=NAME``, the ``framework`` column of every result row), its name in
reports, the Python package that provides it and the pip extra that installs it, its adapter
(loaded by ``adapters.load_adapter`` only when chosen) and whether the d2l chapter has a tab for
it (``protocol=d2l``, harness/d2l_tabs.py). The order of the entries is the order of the
frameworks everywhere: the schema's choices, the report's columns and sections, the studies.

The schema, the adapters' loader, the d2l tabs, the report, the studies and the optimizers'
availability check read it, and tests/test_frameworks_registry.py checks that ``conf/framework/``
and ``pyproject.toml``'s extras agree with it. A new framework is an entry here, its adapter
module (adapters/base.py: the contract) and its ``conf/framework/NAME.yaml``.

Foundation layer: plain facts, no imports of the harness, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Framework:
    name: str  # framework=NAME
    label: str  # how reports and messages name it
    package: str  # the importable package that provides it (and whose absence names the extra)
    extra: str  # pip install -e .[EXTRA]
    adapter: str  # "module:Class", imported only when this framework is chosen
    d2l_tab: bool = True  # the d2l chapter (release 1.0.3) has a tab for it: protocol=d2l runs it


FRAMEWORKS: dict[str, Framework] = {
    fw.name: fw
    for fw in (
        Framework("torch", "PyTorch", "torch", "torch", "adapters.torch_adapter:TorchAdapter"),
        Framework("tf", "TensorFlow", "tensorflow", "tf", "adapters.tf_adapter:TFAdapter"),
        Framework("mxnet", "MXNet", "mxnet", "mxnet", "adapters.mxnet_adapter:MXNetAdapter"),
    )
}
NAMES = tuple(FRAMEWORKS)  # in report order


def label(name: str) -> str:
    """``PyTorch`` for ``torch``; a name the registry does not know (an old or foreign result
    file) is shown as it is."""
    fw = FRAMEWORKS.get(name)
    return fw.label if fw is not None else name


def order(name: str) -> int:
    """The framework's place in reports; unknown names after every known one."""
    return NAMES.index(name) if name in FRAMEWORKS else len(NAMES)
