"""Framework adapters, imported lazily so that choosing one never imports the others.

Which adapter, package and extra each framework has is harness.frameworks' registry; this loader
only reads it."""

from __future__ import annotations

import importlib

from harness.errors import HarnessError
from harness.frameworks import FRAMEWORKS

REGISTRY = FRAMEWORKS  # framework -> harness.frameworks.Framework (its adapter, package and extra)


def load_adapter(framework: str):
    """Return the adapter class for ``framework``, or a HarnessError saying what to install."""
    if framework not in REGISTRY:
        raise HarnessError(f"framework={framework!r} is unknown; choose one of {', '.join(REGISTRY)}")
    fw = REGISTRY[framework]
    module_name, class_name = fw.adapter.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise HarnessError(f"framework={framework} has no adapter in this version; use framework=torch") from None
        if exc.name and exc.name.split(".")[0] == fw.package:
            raise HarnessError(
                f"framework={framework} needs the {fw.package!r} package, which is not installed; "
                f"install it with `pip install -e .[{fw.extra}] -c constraints.txt`"
            ) from None
        raise
    return getattr(module, class_name)
