"""Runs named by what differs (issue 33, item 5): the labeller shows exactly the settings that differ."""

from harness.run_labels import differing_keys, differing_labels


def test_only_differing_keys_in_order():
    runs = [{"optimizer": "sgd", "base_lr": 0.01, "warmup_steps": 0, "seed": 0},
            {"optimizer": "adam", "base_lr": 0.01, "warmup_steps": 470, "seed": 1},
            {"optimizer": "adam", "base_lr": 0.001, "warmup_steps": 0, "seed": 0}]
    assert differing_keys(runs) == ["optimizer", "base_lr", "warmup_steps"]
    labels = differing_labels(runs, ["torch cosine"] * 3)
    assert labels == ["torch cosine (optimizer=sgd, lr=0.01, warmup=0)",
                      "torch cosine (optimizer=adam, lr=0.01, warmup=470)",
                      "torch cosine (optimizer=adam, lr=0.001, warmup=0)"]
    assert len(set(labels)) == 3


def test_seed_only_differences_add_nothing():
    runs = [{"optimizer": "sgd", "seed": 0}, {"optimizer": "sgd", "seed": 1}]
    assert differing_labels(runs, ["torch step", "torch step"]) == ["torch step", "torch step"]


def test_missing_key_counts_as_none_and_unknown_keys_follow():
    runs = [{"batch_size": 256, "zeta": 1}, {"batch_size": 1024}]
    assert differing_keys(runs) == ["batch_size", "zeta"]
    assert differing_labels(runs) == ["batch=256, zeta=1", "batch=1024, zeta=none"]
