"""The typed config schema (harness/schema.py), registered in Hydra's ConfigStore.

Every YAML file in ``conf/`` and ``experiments/`` is merged into the schema's dataclasses, so a
misspelled key (``epocs=3``) or a wrong type fails when the config is composed, before any work
starts. The schema lives in harness/schema.py and its checks in harness/validate.py, which import
neither Hydra nor OmegaConf; this module is the Hydra side.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from harness.paths import EXPERIMENTS_DIR
from harness.schema import HarnessConfig


def register_configs() -> None:
    """The schema, and the presets in experiments/ as the config group ``experiments``.

    The presets live beside conf/, not in it; storing them here (a few small YAML files) is
    cheaper and tidier than putting the project root on Hydra's search path, which would
    expose every YAML file under it (.venv included) as a config group.
    """
    from harness.optimizers import register_resolvers

    register_resolvers()  # ${optimizer_lr:...}, for experiments/optimizers.yaml
    store = ConfigStore.instance()
    store.store(name="harness_schema", node=HarnessConfig)
    for path in sorted(EXPERIMENTS_DIR.glob("*.yaml")):
        store.store(group="experiments", name=path.stem, node=OmegaConf.load(path), package="_global_")
