"""Bad input through the real CLI: one line naming the value and the fix, exit 2, no traceback,
and the results directory exactly as it was."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from harness.data import OS_PACKAGE_DIR
from tests.conftest import run_cli

# A tiny real run, so that every case would train (and write) if the input were accepted.
BASE = {"data.train_size": "512", "data.test_size": "500", "epochs": "1", "seed": "7", "progress": "false"}

# id -> (overrides, expected fragment of the one error line); "{tmp}" is the case's scratch dir.
CASES = {
    "unknown framework": ({"framework": "caffe"}, "framework='caffe' is unknown; choose one of: mxnet, tf, torch"),
    "unknown scheduler": ({"scheduler": "cosin"}, "scheduler='cosin' is unknown (did you mean 'cosine'?); choose one of: constant, constant_warmup, cosine,"),
    "misspelled key": ({"epocs": "3"}, "unknown key 'epocs' (did you mean 'epochs'?)"),
    "negative lr": ({"scheduler.base_lr": "-0.1"}, "scheduler=cosine: base_lr=-0.1 must be a positive finite learning rate"),
    "zero lr": ({"scheduler.base_lr": "0"}, "base_lr=0.0 must be a positive finite learning rate"),
    "warmup not shorter than horizon": (
        {"scheduler": "warmup", "scheduler.warmup_steps": "20"}, "warmup_steps=20 must be > 0 and < total_steps=20"),
    "unsorted milestones": (
        {"scheduler": "multifactor", "scheduler.milestones": "[30,15]"}, "milestones=[30, 15] must be strictly increasing"),
    "out-of-range milestone": (
        {"scheduler": "multifactor", "scheduler.milestones": "[-1,15]"}, "milestones=[-1, 15] must be >= 0"),
    "zero epochs": ({"epochs": "0"}, "epochs=0 must be at least 1"),
    "batch larger than dataset": ({"batch_size": "1024"}, "batch_size=1024 is larger than the 512 training images"),
    "missing dataset": ({"data.root": "{tmp}/nowhere"}, "does not hold the four Fashion-MNIST files"),
    "corrupt dataset file": ({"data.root": "{tmp}/corrupt"}, "t10k-labels-idx1-ubyte.gz"),
    "missing framework package": ({"framework": "tf"}, "needs the 'tensorflow' package, which is not installed; install it with `pip install -e .[tf]"),
    "unwritable results dir": ({"results_dir": "{tmp}/a-file/results"}, "is not writable (Not a directory); choose another"),
    "negative threads": ({"threads": "-1"}, "threads=-1 must be 0 (the framework's default) or a positive count"),
    # What a run is: nothing silently ignored, nothing clamped, seeds in range.
    "key the schema lacks, added with +": ({"+optimizer.nesterovv": "true"}, "unknown key 'optimizer.nesterovv': nothing reads it"),
    "another dataset": ({"data.name": "mnist"}, "data.name='mnist' is not a dataset this harness can load"),
    "scheduler name that is not its kind's": ({"scheduler.name": "foo"}, "scheduler.name='foo' does not name the cosine schedule"),
    "train_size beyond the data": ({"data.train_size": "100000"}, "data.train_size=100000 is more than the 60000 images there are"),
    "test_size beyond the data": ({"data.test_size": "20000"}, "data.test_size=20000 is more than the 10000 images there are"),
    "negative seed": ({"seed": "-1"}, "seed=-1 must be an integer in [0, 2^32)"),
    "seed past 32 bits": ({"seed": "99999999999999999999"}, "seed=99999999999999999999 must be an integer in [0, 2^32)"),
    "empty results_dir": ({"results_dir": ""}, "results_dir is empty; give a folder"),
    # Names that reach the filesystem.
    "scheduler name leaving results_dir": ({"scheduler.name": "../../../pwned"}, "scheduler.name='../../../pwned' cannot be used in a file name"),
    "scheduler name with a folder": ({"scheduler.name": "a/b"}, "scheduler.name='a/b' cannot be used in a file name"),
    "model name with a folder": ({"model.name": "../lenet"}, "model.name='../lenet' cannot be used in a file name"),
    "optimizer name hidden": ({"optimizer.name": ".sgd"}, "optimizer.name='.sgd' cannot be used in a file name"),
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


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_bad_input_is_one_line_exit_2_and_results_unchanged(case, results_with_one_run, tmp_path):
    overrides, expected = CASES[case]
    scratch_files(tmp_path)
    settings = {**BASE, "results_dir": str(results_with_one_run), **overrides}
    args = [f"{key}={value.format(tmp=tmp_path)}" for key, value in settings.items()]
    env = {"PYTHONPATH": str(tmp_path / "hide-tf")} if case == "missing framework package" else None
    before = snapshot(results_with_one_run)

    out = run_cli(*args, env=env)

    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), out.stderr
    assert expected in lines[0]
    assert "Traceback" not in out.stdout + out.stderr
    assert snapshot(results_with_one_run) == before


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
