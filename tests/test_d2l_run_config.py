"""protocol=d2l is resolved once: the canonical run config holds the network and initialiser the
framework's tab trains, and the run keeps the id it was always named by (issue 35)."""

from __future__ import annotations

import inspect

import pytest

from harness.errors import HarnessError
from harness.identity import model_hash, run_id
from harness.preflight import preflight
from harness.schema import as_dict
from harness.validate import validate

# results/d2l_study/tf-constant-s0-1d3b1530dbde2889: experiments=d2l_tabs' TF constant run, named
# when its _config.yaml still said model=lenet.
COMMITTED_TF_RUN = (["protocol=d2l", "framework=tf", "scheduler=constant", "epochs=30", "batch_size=256", "seed=0"],
                    "1d3b1530dbde2889")


def test_the_canonical_config_of_the_tf_tab_holds_its_network_and_initialiser():
    (run,) = preflight(["protocol=d2l", "framework=tf"])
    # The network as model=lenet_d2l_tf composes it (every key filled in), with the tab's Glorot init.
    (same_network,) = preflight(["protocol=clean", "framework=tf", "model=lenet_d2l_tf"])
    assert as_dict(run.model) == as_dict(same_network.model)
    assert run.model.name == "lenet_d2l_tf" and run.model.init == "xavier_uniform"
    assert [layer.kind for layer in run.model.layers if layer.type == "pool"] == ["avg", "avg"]
    assert model_hash(run.model) == model_hash(same_network.model)  # the model_hash column names that network
    (torch,) = preflight(["protocol=d2l", "framework=torch"])
    assert torch.model.name == "lenet" and torch.model.init == "torch_default"


def test_a_d2l_run_keeps_the_id_it_was_named_by_however_its_model_is_written():
    args, committed = COMMITTED_TF_RUN
    (run,) = preflight(args)
    assert run_id(run) == committed
    # Its _config.yaml now names the tab's network: read back (a resume, tuning's retrain
    # command), it is the same run; so is asking for the tab's network by name.
    assert run_id(validate(as_dict(run))) == committed
    (by_name,) = preflight([*args, "model=lenet_d2l_tf"])
    assert run_id(by_name) == committed and as_dict(by_name) == as_dict(run)
    # The torch tab's initialiser, asked for, is the torch tab's run.
    (torch,) = preflight(["protocol=d2l", "framework=torch"])
    (torch_init,) = preflight(["protocol=d2l", "framework=torch", "model.init=torch_default"])
    assert run_id(torch_init) == run_id(torch)


@pytest.mark.parametrize("args, message", [
    (["model=fmnist_mlp"], "model=fmnist_mlp with protocol=d2l would train the d2l tab's own LeNet"),
    (["framework=torch", "model=lenet_d2l_tf"], "model=lenet_d2l_tf with protocol=d2l would train"),
    (["framework=tf", "model.init=torch_default"], "model.init=torch_default with protocol=d2l: the tf tab "
                                                   "initialises with xavier_uniform"),
])
def test_a_model_the_tab_would_replace_is_refused(args, message):
    with pytest.raises(HarnessError, match=message):
        preflight(["protocol=d2l", *args])


def test_nothing_below_validation_swaps_the_model_for_protocol_d2l():
    from harness import bank, optimizers, runner
    from harness.bank import trainer

    for reader in (runner._set_up, optimizers.validate, bank.bank_key, trainer._prepare):
        code = inspect.getsource(reader)
        assert "d2l_tabs" not in code and "protocol ==" not in code, reader.__qualname__


def test_a_framework_without_a_d2l_tab_is_refused_in_one_line(monkeypatch):
    from harness import d2l_tabs

    monkeypatch.setattr(d2l_tabs, "TABS", ("torch", "tf"))  # as if mxnet's entry had d2l_tab=False
    with pytest.raises(HarnessError, match="framework=mxnet has no tab in the d2l chapter to reproduce; use "
                                           "protocol=clean, or protocol=d2l with framework=torch or tf"):
        preflight(["protocol=d2l", "framework=mxnet"])
