"""The figures of docs/parity.md on this machine: how far TensorFlow and MXNet are from PyTorch.

    .venv/bin/python -m benchmarks.parity_figures
    TF_ENABLE_ONEDNN_OPTS=0 .venv/bin/python -m benchmarks.parity_figures   # TensorFlow on Eigen

Uses the parity tests' own helpers (same weights, batches and rates); the tests assert the
bounds, this prints the measured values, which depend on the CPU's kernels.
"""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import OmegaConf

from harness.paths import CONF_DIR
from harness.data import load_fashion_mnist
from harness.model import spec_from_config
from harness.schedules import cosine, epoch_learning_rates
from tests.test_parity import TORCH_LAYOUT, fresh, loss_trace, rel, torch_loss_and_gradients, without_ties


def largest_gap(grads: dict, reference: dict) -> float:
    """Max abs difference relative to the reference's largest value, worst tensor."""
    return max(float(np.abs(grads[n] - reference[n]).max() / np.abs(reference[n]).max()) for n in reference)


def main() -> None:
    spec = spec_from_config(OmegaConf.load(CONF_DIR / "model" / "lenet.yaml"))
    data = load_fashion_mnist(download=False, train_size=5120, test_size=1000)
    x, y = data.train_x[:256], data.train_y[:256]
    noisy = without_ties(x)

    def torch_grads(images, channels_last):
        return torch_loss_and_gradients(spec, data, images, y, channels_last)[1]

    print(f"torch NCHW vs NHWC, gradients: raw {largest_gap(torch_grads(x, True), torch_grads(x, False)):.1e}, "
          f"noisy {largest_gap(torch_grads(noisy, True), torch_grads(noisy, False)):.1e}")
    grads = {}
    for framework in ("tf", "mxnet"):
        layout = TORCH_LAYOUT[framework]
        adapter = fresh(framework, spec, data)
        expected = fresh("torch", spec, data, channels_last=layout).model(torch.from_numpy(x)).detach().numpy()
        logits_gap = np.abs(adapter.logits(x) - expected).max() / np.abs(expected).max()  # before it trains
        grads[framework] = adapter.loss_and_gradients(x, y)[1], fresh(framework, spec, data).loss_and_gradients(noisy, y)[1]
        trace = rel(loss_trace(framework, spec, data, 0.01), loss_trace("torch", spec, data, 0.01, channels_last=layout))
        fast = rel(loss_trace(framework, spec, data, 0.3), loss_trace("torch", spec, data, 0.3, channels_last=layout))
        applied_gap, schedule = 0.0, cosine(0.3, 0.01, 40)
        for epoch in range(2):
            lrs = epoch_learning_rates(schedule, "step", epoch, 20)
            stats = adapter.train_epoch(np.arange(5120), 256, lrs, trace_lrs=True)
            applied_gap = max(applied_gap, float(rel(stats.applied_lrs, lrs).max()))
        print(f"{framework} vs torch ({'NHWC' if layout else 'NCHW'}): "
              f"logits {logits_gap:.1e}, "
              f"gradients raw {largest_gap(grads[framework][0], torch_grads(x, layout)):.1e}, "
              f"noisy {largest_gap(grads[framework][1], torch_grads(noisy, layout)):.1e}, "
              f"20 updates at lr 0.01 {trace.max():.1e}, lr 0.3 traces part at update {int(np.argmax(fast > 1e-5))}, "
              f"applied rate {applied_gap:.1e}")
    print(f"tf vs mxnet gradients: raw {largest_gap(grads['tf'][0], grads['mxnet'][0]):.1e}, "
          f"noisy {largest_gap(grads['tf'][1], grads['mxnet'][1]):.1e}")


if __name__ == "__main__":
    main()
