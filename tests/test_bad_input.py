"""Bad input: one line naming the value and the fix, exit 2, no traceback, and the results
directory exactly as it was. One table of cases, one test.

A case marked "cli" runs a real ``python -m harness`` in a subprocess, against a results
directory holding one finished run: it needs the real command (a package hidden at start-up,
data files, a results folder that is a file) or would train and write if the input were
accepted. A case marked "main" fails in preflight, before a framework is imported, so it runs
``harness.cli.main`` in this process (a subprocess each would only add a second of start-up),
against a results directory holding one file."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.cli import compose_run, main, preflight
from harness.data import OS_PACKAGE_DIR
from harness.errors import HarnessError
from harness.plan_checks import horizon_warning
from tests.conftest import run_cli

# Trains real frameworks or starts the CLI in subprocesses: `make test-fast` leaves it out.
pytestmark = pytest.mark.slow

# A tiny real run, so that every case would train (and write) if the input were accepted.
BASE = {"data.train_size": "512", "data.test_size": "500", "epochs": "1", "seed": "7", "progress": "false"}

# id -> (arguments, expected fragment of the one error line, "cli" | "main"); a case's own
# value of a BASE key replaces it; "{tmp}" is the case's scratch dir; "find-lr" first is the command.
CASES = {
    # The run's settings, through a real `python -m harness` each.
    'unknown framework': (['framework=caffe'], "framework='caffe' is unknown; choose one of: mxnet, tf, torch", 'cli'),
    'unknown scheduler': (['scheduler=cosin'], "scheduler='cosin' is unknown (did you mean 'cosine'?); choose one of: ", 'cli'),  # the list: tests/test_cli.py
    'glob matching nothing': (['-m', 'scheduler=glob(cosin_*)'], "'scheduler=glob(cosin_*)' matches no option of scheduler; choose from: chained, ", 'main'),
    'misspelled key': (['epocs=3'], "unknown key 'epocs' (did you mean 'epochs'?)", 'cli'),
    'negative lr': (['scheduler.base_lr=-0.1'], 'scheduler=cosine: base_lr=-0.1 must be a positive finite learning rate', 'cli'),
    'zero lr': (['scheduler.base_lr=0'], 'base_lr=0.0 must be a positive finite learning rate', 'cli'),
    'warmup not shorter than horizon': (['scheduler=warmup', 'scheduler.warmup_steps=20'], 'warmup_steps=20 must be > 0 and < total_steps=20', 'cli'),
    'unsorted milestones': (['scheduler=multifactor', 'scheduler.milestones=[30,15]'], 'milestones=[30, 15] must be strictly increasing', 'cli'),
    'out-of-range milestone': (['scheduler=multifactor', 'scheduler.milestones=[-1,15]'], 'milestones=[-1, 15] must be >= 0', 'cli'),
    'zero epochs': (['epochs=0'], 'epochs=0 must be at least 1', 'cli'),
    'batch larger than dataset': (['batch_size=1024'], 'batch_size=1024 is larger than the 512 training images', 'cli'),
    'missing dataset': (['data.root={tmp}/nowhere'], 'does not hold the 4 Fashion-MNIST files', 'cli'),
    'corrupt dataset file': (['data.root={tmp}/corrupt'], 't10k-labels-idx1-ubyte.gz', 'cli'),
    'missing framework package': (['framework=tf'], "needs the 'tensorflow' package, which is not installed; install it with `pip install -e .[tf]", 'cli'),
    'unwritable results dir': (['results_dir={tmp}/a-file/results'], 'is not writable (Not a directory); choose another', 'cli'),
    'negative threads': (['threads=-1'], "threads=-1 must be 0 (the framework's default) or a positive count", 'cli'),
    'key the schema lacks, added with +': (['+optimizer.nesterovv=true'], "unknown key 'optimizer.nesterovv': nothing reads it", 'cli'),
    'another dataset': (['data.name=notmnist'], "data.name='notmnist' is not a dataset this harness can load; choose "
                                                "one of fashion_mnist, mnist", 'cli'),
    "scheduler name that is not its kind's": (['scheduler.name=foo'], "scheduler.name='foo' does not name the cosine schedule", 'cli'),
    'train_size beyond the data': (['data.train_size=100000'], 'data.train_size=100000 is more than the 60000 images there are', 'cli'),
    'test_size beyond the data': (['data.test_size=20000'], 'data.test_size=20000 is more than the 10000 images there are', 'cli'),
    'negative seed': (['seed=-1'], 'seed=-1 must be an integer in [0, 2^32)', 'cli'),
    'seed past 32 bits': (['seed=99999999999999999999'], 'seed=99999999999999999999 must be an integer in [0, 2^32)', 'cli'),
    'empty results_dir': (['results_dir='], 'results_dir is empty; give a folder', 'cli'),
    'scheduler name leaving results_dir': (['scheduler.name=../../../pwned'], "scheduler.name='../../../pwned' cannot be used in a file name", 'cli'),
    'scheduler name with a folder': (['scheduler.name=a/b'], "scheduler.name='a/b' cannot be used in a file name", 'cli'),
    'model name with a folder': (['model.name=../lenet'], "model.name='../lenet' cannot be used in a file name", 'cli'),
    'optimizer name hidden': (['optimizer.name=.sgd'], "optimizer.name='.sgd' cannot be used in a file name", 'cli'),
    # The optimizer.
    'unknown optimizer': (['optimizer=adamm'], "optimizer='adamm' is unknown (did you mean 'adam'?); choose one of: adagrad, adam, adamw, rmsprop, schedule_free_adamw, sgd", 'main'),
    'beta1 of 1': (['optimizer=adam', 'optimizer.beta1=1.0'], 'optimizer.beta1=1.0 must be in [0, 1)', 'main'),
    'negative beta2': (['optimizer=adam', 'optimizer.beta2=-0.1'], 'optimizer.beta2=-0.1 must be in [0, 1)', 'main'),
    'momentum of 1': (['optimizer.momentum=1'], 'optimizer.momentum=1.0 must be in [0, 1)', 'main'),
    'negative momentum': (['optimizer=rmsprop', 'optimizer.momentum=-0.5'], 'optimizer.momentum=-0.5 must be in [0, 1)', 'main'),
    'negative eps': (['optimizer=adam', 'optimizer.eps=-1e-8'], 'optimizer.eps=-1e-08 must be a finite number >= 0', 'main'),
    'zero eps': (['optimizer=adagrad', 'optimizer.eps=0'], 'optimizer.eps=0 divides 0 by 0 for a zero gradient', 'main'),
    'negative weight decay': (['optimizer.weight_decay=-0.1'], 'optimizer.weight_decay=-0.1 must be a finite number >= 0', 'main'),
    'nesterov without momentum': (['optimizer.nesterov=true'], 'optimizer.nesterov=true needs optimizer.momentum > 0', 'main'),
    'unknown layer in lr_mult': (['optimizer.lr_mult={conv9: 0.1}'], "optimizer.lr_mult names unknown layer 'conv9'; known layers of model 'lenet': conv, dense, conv1, conv2, dense1, dense2, dense3", 'main'),
    'negative multiplier': (['optimizer.lr_mult={conv: -1}'], 'optimizer.lr_mult.conv=-1 must be a finite multiplier >= 0', 'main'),
    'lr_mult not a mapping': (['optimizer.lr_mult=0.1'], 'optimizer.lr_mult=0.1 must map layers to multipliers', 'main'),
    'schedule-free in MXNet': (['framework=mxnet', 'optimizer=schedule_free_adamw'], 'optimizer=schedule_free_adamw is not available with framework=mxnet: MXNet has no maintained implementation of it; use framework=torch or framework=tf', 'main'),
    'schedule-free without an average': (['optimizer=schedule_free_adamw', 'optimizer.beta1=0'], 'optimizer.beta1=0 leaves schedule_free_adamw no average to evaluate at', 'main'),
    'schedule-free with cycled momentum': (['optimizer=schedule_free_adamw', 'scheduler=onecycle', 'scheduler.cycle_momentum=true'], "optimizer=schedule_free_adamw's beta1 is its averaging, not a momentum to cycle", 'main'),
    'a key the rule does not read': (['optimizer.beta1=0.5'], 'optimizer.beta1=0.5 has no effect on optimizer=sgd', 'main'),
    # Schedules.
    'warmup begins above base_lr': (['scheduler=warmup', 'scheduler.warmup_begin_lr=0.5'], 'scheduler=warmup: warmup_begin_lr=0.5 must be >= 0 and below the rate it warms up to (0.3, base_lr)', 'main'),
    'cycled momentum without momentum': (['scheduler=onecycle', 'scheduler.cycle_momentum=true'], 'scheduler=onecycle cycles momentum (scheduler.cycle_momentum=true) but optimizer=sgd with momentum=0.0 has none to cycle', 'main'),
    'inverted momentum range': (['scheduler=onecycle', 'scheduler.base_momentum=0.95', 'scheduler.max_momentum=0.85'], 'scheduler=onecycle: base_momentum=0.95 must be <= max_momentum=0.85', 'main'),
    'pct_start outside (0, 1)': (['scheduler=onecycle', 'scheduler.pct_start=1.5'], 'pct_start=1.5 must be in (0, 1)', 'main'),
    'T_mult below 1': (['scheduler=cosine_restarts', 'scheduler.cycle_mult=0.5'], 'cycle_mult=0.5 (T_mult) must be >= 1', 'main'),
    'unknown decay_shape': (['scheduler=wsd', 'scheduler.decay_shape=sqrt'], "decay_shape='sqrt' is unknown; choose one of linear, 1-sqrt, cosine", 'main'),
    'final_lr above base_lr in a decay': (['scheduler=linear_decay', 'scheduler.final_lr=0.5'], 'final_lr=0.5 must be in [0, base_lr=0.3]', 'main'),
    'zero length': (['scheduler=step', 'scheduler.step_size=0'], 'step_size=0 must be a positive length', 'main'),
    'warmup longer than the derived horizon': (['scheduler=warmup_linear', 'epochs=2'], 'warmup_steps=3 must be > 0 and < total_steps=2', 'main'),
    'unknown warmup_shape': (['scheduler=cosine', 'scheduler.warmup_steps=2', 'scheduler.warmup_shape=exp'], "warmup_shape='exp' is unknown; choose one of linear, cosine", 'main'),
    'cyclic bounds inverted': (['scheduler=cyclic', 'scheduler.max_lr=0.01'], 'max_lr=0.01 must be above base_lr=0.05', 'main'),
    'sequence boundaries': (['scheduler=sequence', 'scheduler.boundaries=[5,10]'], '2 phases need 1 boundaries', 'main'),
    'key the schedule does not take': (['scheduler=cosine', 'scheduler.gamma=0.5'], "cosine schedule does not take ['gamma']", 'main'),
    # find-lr, the validation split and scheduler=plateau.
    'find-lr start_lr equal to end_lr': (['find-lr', 'find_lr.start_lr=1', 'find_lr.end_lr=1'], 'find-lr: start_lr=1.0 must be below end_lr=1.0', 'main'),
    'find-lr start_lr above end_lr': (['find-lr', 'find_lr.start_lr=20'], 'start_lr=20.0 must be below end_lr=10.0', 'main'),
    'find-lr zero start_lr': (['find-lr', 'find_lr.start_lr=0'], 'start_lr=0.0 must be a positive finite learning rate', 'main'),
    'find-lr negative end_lr': (['find-lr', 'find_lr.end_lr=-1'], 'end_lr=-1.0 must be a positive finite learning rate', 'main'),
    'find-lr too few updates': (['find-lr', 'find_lr.num_updates=9'], 'num_updates=9 must be at least 10', 'main'),
    'find-lr unknown key': (['find-lr', 'find_lr.end=3'], "unknown key 'find_lr.end' (did you mean 'find_lr.end_lr'?)", 'main'),
    'find-lr bad run override': (['find-lr', 'epocs=3'], "unknown key 'epocs' (did you mean 'epochs'?)", 'main'),
    'val_size leaves less than a batch': (['data.val_size=59900', 'data.train_size=null', 'batch_size=256'], 'data.val_size=59900 leaves 100 training images, fewer than one batch (batch_size=256)', 'main'),
    'val_size out of range': (['data.val_size=60000'], 'data.val_size=60000 must be between 1 and 59999', 'main'),
    'plateau on val_loss without a split': (['scheduler=plateau'], 'scheduler=plateau monitors val_loss but there is no validation split; set data.val_size', 'main'),
    'plateau unknown monitor': (['scheduler=plateau', 'scheduler.monitor=loss', 'data.val_size=1000'], "scheduler=plateau: monitor='loss' is unknown; choose one of val_loss, val_acc, train_loss, train_acc", 'main'),
    'plateau on the test set': (['scheduler=plateau', 'scheduler.monitor=test_loss'], "monitor='test_loss': the test set chooses nothing", 'main'),
    'plateau factor of one': (['scheduler=plateau', 'data.val_size=1000', 'scheduler.factor=1'], 'factor=1.0 must be in (0, 1)', 'main'),

}

# Imported as `sitecustomize`, it makes `import tensorflow` fail as if it were not installed.
HIDE_TENSORFLOW = textwrap.dedent('''
    import sys
    class HideTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "tensorflow":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, HideTensorFlow())
''')


def snapshot(directory):
    """Every file under ``directory`` with its size, modification time and content hash."""
    return {
        str(path.relative_to(directory)): (path.stat().st_size, path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(directory.rglob("*")) if path.is_file()
    }


@pytest.fixture(scope="module")
def results_with_one_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    out = run_cli(*(f"{k}={v}" for k, v in {**BASE, "seed": "0"}.items()), f"results_dir={results}")
    assert out.returncode == 0, out.stderr
    return results


def scratch_files(tmp):
    (tmp / "a-file").write_text("a file where a directory should be\n")
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    for source in OS_PACKAGE_DIR.glob("*.gz"):
        shutil.copy(source, corrupt / source.name)
    labels = gzip.decompress((corrupt / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (corrupt / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels[:5000]))  # truncated
    (tmp / "hide-tf").mkdir()
    (tmp / "hide-tf" / "sitecustomize.py").write_text(HIDE_TENSORFLOW)


def argv(args: list[str], results: Path) -> list[str]:
    """The command, BASE less the keys the case gives, the case's arguments, then results_dir."""
    command, rest = (args[:1], args[1:]) if args and args[0] == "find-lr" else ([], args)
    settings = {**BASE, "results_dir": str(results)}
    given = {arg.split("=")[0] for arg in rest}
    return [*command, *(f"{k}={v}" for k, v in settings.items() if k not in given), *rest]


def exit_code_and_stderr(case: str, results: Path, tmp: Path, capsys) -> tuple[int, str, str]:
    args, _, where = CASES[case]
    args = argv([arg.replace("{tmp}", str(tmp)) for arg in args], results)
    if where == "cli":
        env = {"PYTHONPATH": str(tmp / "hide-tf")} if case == "missing framework package" else None
        out = run_cli(*args, env=env)
        return out.returncode, out.stdout, out.stderr
    with pytest.raises(SystemExit) as exit_:
        main(args)
    out = capsys.readouterr()
    return exit_.value.code, out.out, out.err


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_results_unchanged(case, tmp_path, capsys, request):
    _, expected, where = CASES[case]
    scratch_files(tmp_path)
    if where == "cli":
        results = request.getfixturevalue("results_with_one_run")
    else:
        results = tmp_path / "results"
        results.mkdir()
        (results / "keep.txt").write_text("a file that must stay as it is\n")
    before = snapshot(results)

    code, stdout, stderr = exit_code_and_stderr(case, results, tmp_path, capsys)

    assert code == 2, stdout + stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), stderr
    assert expected in lines[0]
    assert "Traceback" not in stdout + stderr
    assert snapshot(results) == before


@pytest.mark.parametrize("args", [
    ["scheduler.name=../../../pwned"],
    ["-m", "seed=0,1", "scheduler.name=a/b"],
    ["-m", "seed=0,-1,2"],
])
def test_nothing_is_written_next_to_results_dir_either(args, tmp_path):
    """A bad name or seed anywhere in a sweep fails before the first run: not one file appears
    anywhere around results_dir (the first run of a sweep would otherwise have trained)."""
    inner = tmp_path / "a" / "b" / "inner"
    inner.mkdir(parents=True)
    base = {k: v for k, v in BASE.items() if k != "seed"}
    out = run_cli(*args, *(f"{k}={v}" for k, v in base.items()), f"results_dir={inner}")
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == [Path("a"), Path("a/b"), Path("a/b/inner")]


def test_a_glob_sweeps_the_group_options_it_matches_as_hydra_does():
    configs = preflight(["-m", "scheduler=glob(cos*,exclude=[cosine_exponent])", "seed=0,1"])
    assert [(c.scheduler.name, c.seed) for c in configs] == [
        ("cosine", 0), ("cosine", 1), ("cosine_restarts", 0), ("cosine_restarts", 1)]  # Hydra's order: sorted
    with pytest.raises(HarnessError, match="lists several values; add -m"):
        preflight(["scheduler=glob(cos*)"])


def test_a_sweep_shares_a_horizon_and_a_horizon_can_follow_epochs():
    configs = preflight(["-m", "scheduler=constant,cosine,warmup", "scheduler.total_steps=12", "epochs=12"])
    assert [c.scheduler.name for c in configs] == ["constant", "cosine", "warmup"]
    follows = preflight(["scheduler=cosine", "scheduler.total_steps=${epochs}", "epochs=7"])[0]
    assert follows.scheduler.total_steps == 7


def test_a_horizon_far_longer_than_the_run_warns():
    far = compose_run(["scheduler=cosine", "scheduler.total_steps=7050", "epochs=30"])
    assert "total_steps=7050 is 235.0x the run's 30 epochs (unit=epoch)" in horizon_warning(far)
    assert horizon_warning(compose_run(["scheduler=cosine"])) is None  # 20 of 30 epochs: shorter is fine
    assert horizon_warning(compose_run(["scheduler=onecycle"])) is None  # derived: exactly the run
