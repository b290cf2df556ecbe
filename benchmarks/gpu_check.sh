#!/usr/bin/env bash
# The GPU path, proven in under 10 minutes on a lent machine (README.md, "On a GPU"):
#   1. a 3-epoch single run with device=cuda on the full Fashion-MNIST (its rows name the GPU,
#      tf32=false);
#   2. benchmarks.bank on CUDA: the single-run adapter, then banks of K = 16, 64, 256, 1024 runs,
#      2 timed epochs each on 20,000 images, with the GPU's measured float32 peak (TF32 off);
#   3. one JSON of the figures: $OUT/gpu_check.json (OUT defaults to ./gpu_check).
#
# The machine needs Python 3.12 with torch (CUDA), numpy, pyarrow and pandas; nothing else need be
# reachable. Carry, in this repository's working tree:
#   wheels/      pip download --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
#                  -d wheels -c constraints.txt hydra-core omegaconf antlr4-python3-runtime PyYAML tqdm
#                (antlr4-python3-runtime 4.9.3 is a source package: add --no-binary for it, or build its
#                 wheel here first: pip wheel antlr4-python3-runtime==4.9.3 -w wheels)
#   data/        the four Fashion-MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
#                t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz), e.g. from
#                /usr/share/datasets/fashion-mnist or ~/.cache/harness/fashion-mnist; found through
#                HARNESS_DATA (harness/data.py checks their content's SHA-256)
# Then: bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu_check}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export HARNESS_DATA="${HARNESS_DATA:-$PWD/data}" PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if ! "$PY" -c "import hydra, omegaconf, tqdm, yaml" 2>/dev/null; then
    "$PY" -m pip install --no-index --find-links wheels --target "$OUT/site" hydra-core omegaconf antlr4-python3-runtime PyYAML tqdm
    export PYTHONPATH="$PYTHONPATH:$PWD/$OUT/site"
fi
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU seen by torch'; print(torch.__version__, torch.cuda.get_device_name(0))"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

start=$(date +%s)
timeout 240 "$PY" -m harness framework=torch device=cuda epochs=3 progress=false data.download=false \
    results_dir="$OUT/results" 2>&1 | tee "$OUT/single.log"
single_s=$(( $(date +%s) - start ))
timeout 420 "$PY" -m benchmarks.bank --device cuda --sizes 16,64,256,1024 --images 20000 --epochs 2 \
    --json "$OUT/bank.json" 2>&1 | tee "$OUT/bank.log"

"$PY" - "$OUT" "$single_s" <<'PYEOF'
import json, sys
from pathlib import Path
import pandas as pd
out, single_s = Path(sys.argv[1]), int(sys.argv[2])
rows = pd.read_parquet(out / "results")
single = {"wall_s": single_s, "device": rows["device"].iloc[0], "tf32": bool(rows["tf32"].iloc[0]),
          "train_time_s": rows["train_time_s"].tolist(), "test_acc": rows["test_acc"].tolist()}
figures = {"single_run": single, "bank": json.loads((out / "bank.json").read_text())}
(out / "gpu_check.json").write_text(json.dumps(figures, indent=1))
print(f"gpu_check: {out / 'gpu_check.json'}")
PYEOF
