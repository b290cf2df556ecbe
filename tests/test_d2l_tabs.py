"""protocol=d2l: each tab's learning-rate sequence, checked against the chapter's description
and, where a framework's own scheduler object was used, against that object."""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from harness.paths import CONF_DIR
from harness.schema import SchedulerConfig
from harness.d2l_tabs import tab_learning_rates as _tab_learning_rates

STEPS = 235  # ceil(60000 / 256)


def params(name: str) -> dict:
    return SchedulerConfig.factory_params(OmegaConf.load(CONF_DIR / "scheduler" / f"{name}.yaml"))


def tab_learning_rates(framework, name, params, epochs, steps):
    """By config option name (warmup's kind is warmup_cosine)."""
    kind = OmegaConf.load(CONF_DIR / "scheduler" / f"{name}.yaml").kind
    return _tab_learning_rates(framework, kind, params, epochs, steps)


def epoch_rates(framework, name, epochs=30):
    lrs = tab_learning_rates(framework, name, params(name), epochs, STEPS).reshape(epochs, STEPS)
    assert (lrs == lrs[:, :1]).all(), "torch and tf tabs change the rate per epoch only"
    return lrs[:, 0]


def cos_at(t, total=20, base=0.3, final=0.01, warmup=0):
    return final + (base - final) * (1 + math.cos(math.pi * (t - warmup) / (total - warmup))) / 2


def test_torch_tab_changes_the_rate_after_each_epoch():
    warm = epoch_rates("torch", "warmup")
    assert warm[:4] == pytest.approx([0.3, 0.0, 0.06, 0.12])  # epoch 0 at the optimizer's rate
    cos = epoch_rates("torch", "cosine")
    assert cos[0] == 0.3 and cos[1] == 0.3 and cos[11] == pytest.approx(cos_at(10)) and cos[29] == pytest.approx(0.01)
    sq = epoch_rates("torch", "sqrt")
    assert sq[0] == 0.1 and sq[1] == 0.1 and sq[4] == pytest.approx(0.1 / 2)
    assert (epoch_rates("torch", "constant") == 0.3).all()


def test_torch_tab_multifactor_is_stuck_at_0125_like_the_prestepped_multisteplr():
    assert (epoch_rates("torch", "multifactor") == 0.125).all()
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.5)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[15, 30], gamma=0.5)
    for _ in range(30):  # the chapter's plotting cell
        opt.step()
        sched.step()
    seen = []
    for _ in range(30):  # training: one scheduler step after each epoch
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == epoch_rates("torch", "multifactor").tolist()


def test_tf_tab_calls_the_schedule_at_each_epoch_start():
    mf = epoch_rates("tf", "multifactor")
    assert (mf[:15] == 0.25).all() and (mf[15:] == 0.125).all()
    assert epoch_rates("tf", "warmup")[:3] == pytest.approx([0.0, 0.06, 0.12])
    assert epoch_rates("tf", "cosine")[10] == pytest.approx(cos_at(10))
    assert epoch_rates("tf", "sqrt")[3] == pytest.approx(0.05)


def test_mxnet_tab_evaluates_the_schedule_at_every_update():
    n = 30 * STEPS
    cos = tab_learning_rates("mxnet", "cosine", params("cosine"), 30, STEPS)
    assert cos[0] == pytest.approx(cos_at(1)) and cos[19] == pytest.approx(0.01) and (cos[20:] == cos[19]).all()
    warm = tab_learning_rates("mxnet", "warmup", params("warmup"), 30, STEPS)
    assert warm[:4] == pytest.approx([0.06, 0.12, 0.18, 0.24]) and warm[19] == pytest.approx(0.01)
    sq = tab_learning_rates("mxnet", "sqrt", params("sqrt"), 30, STEPS)
    assert sq[0] == pytest.approx(0.1 / math.sqrt(2)) and sq[-1] == pytest.approx(0.1 / math.sqrt(n + 1))
    assert 0.0011 < sq[-1] < 0.0012  # "decays to about 0.001"
    mf = tab_learning_rates("mxnet", "multifactor", params("multifactor"), 30, STEPS)
    assert (mf[:30] == 0.25).all() and (mf[30:] == 0.125).all()


def test_mxnet_tab_equals_mxnets_own_scheduler_objects_driven_by_a_trainer_count():
    pytest.importorskip("adapters.mxnet_adapter")  # imports MXNet behind its numpy.bool shim
    from mxnet import lr_scheduler
    objects = {
        "multifactor": lr_scheduler.MultiFactorScheduler(step=[15, 30], factor=0.5, base_lr=0.5),
        "cosine": lr_scheduler.CosineScheduler(max_update=20, base_lr=0.3, final_lr=0.01),
        "warmup": lr_scheduler.CosineScheduler(20, warmup_steps=5, base_lr=0.3, final_lr=0.01),
    }
    for name, obj in objects.items():
        for t in range(30):
            obj(t)
        expected = [obj(k + 1) for k in range(3 * STEPS)]
        ours = tab_learning_rates("mxnet", name, params(name), 3, STEPS)
        np.testing.assert_allclose(ours, expected, rtol=1e-15, err_msg=name)


def test_factor_was_never_trained_in_the_chapter():
    with pytest.raises(ValueError, match="never trained"):
        tab_learning_rates("torch", "factor", params("factor"), 30, STEPS)


def test_protocol_d2l_through_the_cli_trains_the_torch_tabs_sequence(tmp_path):
    import pandas as pd

    from tests.conftest import run_cli

    out = run_cli("protocol=d2l", "scheduler=warmup", "epochs=3", "data.train_size=1024", "data.test_size=500",
                  "progress=false", f"results_dir={tmp_path}")
    assert out.returncode == 0, out.stderr
    df = pd.read_parquet(tmp_path).sort_values("epoch")
    assert df["lr"].tolist() == pytest.approx([0.3, 0.0, 0.06])
    assert (df["protocol"] == "d2l").all() and (df["model"] == "lenet").all()


def test_protocol_d2l_refuses_the_untrained_factor_schedule():
    from harness.cli import preflight
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="never trained in the d2l chapter"):
        preflight(["protocol=d2l", "scheduler=factor"])
