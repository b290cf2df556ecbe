"""The test problems (README, "Problems"): each a model preset and a dataset preset. Each composes
and validates with the d2l chapter's six schedules, and trains one epoch in every installed
framework from identical initial weights (on a small subset, to keep the suite fast)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from omegaconf import OmegaConf

from harness.cli import _help, compose_run, problems
from harness.errors import HarnessError
from harness.model import init_weights, spec_from_config
from harness.paths import CONF_DIR
from harness.validate import validate
from tests.conftest import INSTALLED_FRAMEWORKS, PROJECT_ROOT

PROBLEMS = {  # model preset -> dataset preset
    "fmnist_logreg": "fashion_mnist",
    "fmnist_mlp": "fashion_mnist",
    "fmnist_2c2d": "fashion_mnist",
    "lenet_bn": "fashion_mnist",
    "mnist1d_mlp": "mnist1d",
    "digits_cnn": "digits",
}
D2L_SCHEDULES = ("constant", "sqrt", "factor", "multifactor", "cosine", "warmup")


def test_help_and_the_readme_list_every_problem_with_its_measured_cost():
    """One list, the presets' "# Problem:" lines: --help prints it, the README's table agrees."""
    listed = problems()
    assert {model: command.split()[1] for model, (command, _) in listed.items()} == {
        **{model: f"data={data}" for model, data in PROBLEMS.items()}, "lenet": "data=fashion_mnist"}
    page = _help([])
    section = (PROJECT_ROOT / "README.md").read_text().split("\n## Problems\n")[1].split("\n## ")[0]
    rows = {cells[1].strip("`"): cells for cells in ([c.strip() for c in line.strip().strip("|").split("|")]
                                                      for line in section.splitlines() if line.startswith("| "))}
    for model, (command, cost) in listed.items():
        assert re.fullmatch(r"[0-9.]+ s \+ [0-9.]+ s", cost), (model, cost)  # a measured figure, no placeholder
        assert re.search(rf"^{re.escape(command)} +{re.escape(cost)}$", page, re.M), model
        data = " ".join(word.strip("`") for word in rows[model][2].split())
        assert (f"model={model} data={data}", rows[model][-1]) == (command, cost), model


@pytest.mark.slow  # 36 compositions: about 30 s on 2 cores
@pytest.mark.parametrize("model", PROBLEMS)
def test_every_problem_validates_with_the_six_d2l_schedules(model):
    for scheduler in D2L_SCHEDULES:
        run = validate(compose_run([f"model={model}", f"data={PROBLEMS[model]}", f"scheduler={scheduler}", "epochs=3"]))
        assert run.model.name == model and run.data.name == PROBLEMS[model]


def test_a_model_on_the_wrong_data_and_a_model_under_protocol_d2l_are_refused():
    with pytest.raises(HarnessError, match=r"model=digits_cnn takes input_shape \[1, 8, 8\].*data=fashion_mnist has \[1, 28, 28\]"):
        validate(compose_run(["model=digits_cnn"]))
    with pytest.raises(HarnessError, match="model=fmnist_mlp with protocol=d2l would train the d2l tab's own LeNet"):
        validate(compose_run(["model=fmnist_mlp", "protocol=d2l"]))
    with pytest.raises(HarnessError, match="protocol=d2l reproduces the d2l chapter on Fashion-MNIST, not data=digits"):
        validate(compose_run(["model=digits_cnn", "data=digits", "protocol=d2l"]))
    validate(compose_run(["protocol=d2l", "scheduler=cosine"]))  # the chapter's own LeNet still runs


@pytest.mark.slow
@pytest.mark.parametrize("model", PROBLEMS)
def test_every_problem_trains_one_epoch_in_every_framework_from_identical_weights(model):
    from adapters import load_adapter
    from harness.data import load_dataset
    from harness.optimizers import OptimizerSpec

    spec = spec_from_config(OmegaConf.load(CONF_DIR / "model" / f"{model}.yaml"))
    data = load_dataset(PROBLEMS[model], download=False, train_size=256, test_size=200)
    weights = init_weights(spec, 0)
    losses = {}
    for framework in INSTALLED_FRAMEWORKS:
        adapter = load_adapter(framework)(spec, OptimizerSpec("sgd"), device="cpu", seed=0)
        adapter.set_weights(weights)
        start = adapter.get_weights()
        assert all(np.array_equal(start[name], weights[name]) for name in weights), framework
        adapter.set_data(data.train_x, data.train_y, data.test_x, data.test_y)
        stats = adapter.train_epoch(np.arange(256), 64, [0.05] * 4)
        evaluated = adapter.evaluate()
        assert np.isfinite(stats.loss) and np.isfinite(evaluated.loss) and evaluated.count == 200
        losses[framework] = stats.loss
    # The same first epoch: the four mean losses agree (max-pool ties on raw images may route a
    # gradient differently, tests/test_parity.py, hence 1e-4 rather than the parity tests' 1e-5).
    for framework, loss in losses.items():
        assert loss == pytest.approx(losses["torch"], rel=1e-4), framework
