"""Bad input to find-lr, the validation split and scheduler=plateau: one line naming the value
and the fix, exit 2, and the results directory exactly as it was (the pattern of
tests/test_bad_input.py, through ``harness.cli.main`` in this process: every case fails in
preflight, before a framework is imported, so a subprocess per case would only add start-up)."""

from __future__ import annotations

import pytest

from harness.cli import main
from tests.test_bad_input import snapshot

BASE = ["data.train_size=512", "data.test_size=500", "epochs=1", "progress=false"]

# id -> (arguments, expected fragment of the one error line)
CASES = {
    "find-lr start_lr equal to end_lr": (
        ["find-lr", "find_lr.start_lr=1", "find_lr.end_lr=1"], "find-lr: start_lr=1.0 must be below end_lr=1.0"),
    "find-lr start_lr above end_lr": (["find-lr", "find_lr.start_lr=20"], "start_lr=20.0 must be below end_lr=10.0"),
    "find-lr zero start_lr": (["find-lr", "find_lr.start_lr=0"], "start_lr=0.0 must be a positive finite learning rate"),
    "find-lr negative end_lr": (["find-lr", "find_lr.end_lr=-1"], "end_lr=-1.0 must be a positive finite learning rate"),
    "find-lr too few updates": (["find-lr", "find_lr.num_updates=9"], "num_updates=9 must be at least 10"),
    "find-lr unknown key": (["find-lr", "find_lr.end=3"], "unknown key 'find_lr.end' (did you mean 'find_lr.end_lr'?)"),
    "find-lr bad run override": (["find-lr", "epocs=3"], "unknown key 'epocs' (did you mean 'epochs'?)"),
    "val_size leaves less than a batch": (
        ["data.val_size=59900", "data.train_size=null", "batch_size=256"],
        "data.val_size=59900 leaves 100 training images, fewer than one batch (batch_size=256)"),
    "val_size out of range": (["data.val_size=60000"], "data.val_size=60000 must be between 1 and 59999"),
    "plateau on val_loss without a split": (
        ["scheduler=plateau"], "scheduler=plateau monitors val_loss but there is no validation split; set data.val_size"),
    "plateau unknown monitor": (
        ["scheduler=plateau", "scheduler.monitor=loss", "data.val_size=1000"],
        "scheduler=plateau: monitor='loss' is unknown; choose one of val_loss, val_acc, train_loss, train_acc"),
    "plateau on the test set": (
        ["scheduler=plateau", "scheduler.monitor=test_loss"], "monitor='test_loss': the test set chooses nothing"),
    "plateau factor of one": (
        ["scheduler=plateau", "data.val_size=1000", "scheduler.factor=1"], "factor=1.0 must be in (0, 1)"),
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_results_unchanged(case, tmp_path, capsys):
    args, expected = CASES[case]
    results = tmp_path / "results"
    results.mkdir()
    (results / "keep.txt").write_text("a file that must stay as it is\n")
    before = snapshot(results)
    command, rest = (args[:1], args[1:]) if args[0] == "find-lr" else ([], args)
    with pytest.raises(SystemExit) as exit_:
        given = {arg.split("=")[0] for arg in rest}  # a key is given once: the case's value wins
        main([*command, *(a for a in BASE if a.split("=")[0] not in given), *rest, f"results_dir={results}"])
    out = capsys.readouterr()
    assert exit_.value.code == 2, out.out + out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), out.err
    assert expected in lines[0]
    assert "Traceback" not in out.out + out.err
    assert snapshot(results) == before
