"""Framework adapters, imported lazily so that choosing one never imports the others."""

from __future__ import annotations

import importlib

from harness.errors import HarnessError

# framework -> (module, class, pip package that provides it, extra that installs it)
REGISTRY = {
    "torch": ("adapters.torch_adapter", "TorchAdapter", "torch", "torch"),
    "tf": ("adapters.tf_adapter", "TFAdapter", "tensorflow", "tf"),
    "mxnet": ("adapters.mxnet_adapter", "MXNetAdapter", "mxnet", "mxnet"),
}


def load_adapter(framework: str):
    """Return the adapter class for ``framework``, or a HarnessError saying what to install."""
    if framework not in REGISTRY:
        raise HarnessError(f"framework={framework!r} is unknown; choose one of {', '.join(REGISTRY)}")
    module_name, class_name, package, extra = REGISTRY[framework]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise HarnessError(f"framework={framework} has no adapter in this version; use framework=torch") from None
        if exc.name and exc.name.split(".")[0] == package:
            raise HarnessError(
                f"framework={framework} needs the {package!r} package, which is not installed; "
                f"install it with `pip install -e .[{extra}] -c constraints.txt`"
            ) from None
        raise
    return getattr(module, class_name)
