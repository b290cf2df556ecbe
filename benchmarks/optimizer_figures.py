"""The figures of docs/optimizers.md ("Which network, and the figures measured") on this machine.

    .venv/bin/python -m benchmarks.optimizer_figures                   # PyTorch at its default threads
    .venv/bin/python -m benchmarks.optimizer_figures --torch-threads 1 # as after MXNet is loaded

Uses tests/test_optimizer_parity.py's own helpers (the smooth LeNet, the same weights, batches and
rates); the tests assert the bounds, this prints the measured values, which depend on the CPU.
Four parts: each framework's gradients per tensor against float64 PyTorch, at the initial weights
and the first batch; MXNet's loss against float64 (gluon's and the adapter's); the 20-update loss
traces and final weights against PyTorch (the test's table); and each rule fed PyTorch's gradients
(the rule alone).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch


def gap(ours: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(ours - expected) / np.linalg.norm(expected))


def gradients_against_float64(spec, data, frameworks) -> None:
    from harness.optimizers import OptimizerSpec
    from tests.test_optimizer_parity import BATCH, fresh

    x, y = data.train_x[:BATCH], data.train_y[:BATCH]
    reference = fresh("torch", spec, OptimizerSpec("sgd"), data)
    reference.model.double()
    loss = torch.nn.functional.cross_entropy(reference.model(torch.from_numpy(x).double()), torch.from_numpy(y))
    loss.backward()
    expected = {name: p.grad.numpy() for name, p in reference._params.items()}
    print(f"gradients per tensor, L2 gap to float64 PyTorch (initial weights, first batch of 64; PyTorch float32 at "
          f"{torch.get_num_threads()} threads):")
    for framework in frameworks:
        their_loss, grads = fresh(framework, spec, OptimizerSpec("sgd"), data).loss_and_gradients(x, y)
        print(f"  {framework:6s} loss {abs(their_loss - loss.item()) / loss.item():.1e} "
              + " ".join(f"{name} {gap(grads[name], g):.1e}" for name, g in expected.items()))


def mxnet_loss_against_float64() -> None:
    import adapters.mxnet_adapter as mxnet_adapter  # first: its numpy shim makes MXNet importable
    import mxnet as mx
    from mxnet import autograd, gluon

    from tests.test_parity import float64_cross_entropy

    logits = np.random.default_rng(0).normal(0, 1, (256, 10)).astype(np.float32)
    labels = np.random.default_rng(1).integers(0, 10, 256)
    expected_loss, expected_grad = float64_cross_entropy(logits, labels)
    print("MXNet's per-example loss against float64 (256 x 10 normal logits, sd 1):")
    for name, loss_of in (("gluon SoftmaxCrossEntropyLoss", gluon.loss.SoftmaxCrossEntropyLoss()),
                          ("adapter _cross_entropy", mxnet_adapter._cross_entropy)):
        z_mx = mx.nd.array(logits)
        z_mx.attach_grad()
        with autograd.record():
            loss = loss_of(z_mx, mx.nd.array(labels, dtype="int64"))
        loss.backward()
        loss_error = np.abs(loss.asnumpy() - expected_loss).max()
        grad_error = (np.abs(z_mx.grad.asnumpy() - expected_grad) / np.abs(expected_grad)).max()
        print(f"  {name:30s} loss {loss_error:.1e} (absolute), gradient {grad_error:.1e} (relative, per element)")


def twenty_updates(spec, data, frameworks) -> None:
    from tests.test_optimizer_parity import CASES, relative_gaps, trace

    expected = {case: trace("torch", spec, case, data) for case in CASES}  # all first, as the test's fixture
    print(f"20 updates, gap to PyTorch (PyTorch at {torch.get_num_threads()} threads): "
          "loss trace | weights L2 (worst tensor) | weights max element / max")
    for case in CASES:
        cells = []
        for framework in frameworks:
            ours = trace(framework, spec, case, data)
            trace_gap, weight_gaps = relative_gaps(ours, expected[case])
            worst = max(weight_gaps, key=weight_gaps.get)
            largest = max(float(np.abs(ours[1][n] - expected[case][1][n]).max() / np.abs(expected[case][1][n]).max())
                          for n in weight_gaps)
            cells.append(f"{framework} {trace_gap:.1e} | {weight_gaps[worst]:.1e} ({worst}) | {largest:.1e}")
        print(f"  {case:40s} " + "   ".join(cells))


def rules_alone(spec, data, frameworks) -> None:
    from harness.model import init_weights
    from harness.optimizers import reference_step
    from harness.schedules import cosine
    from tests.test_optimizer_parity import BATCH, CASES, UPDATES, apply_gradients, fresh

    print("each rule fed PyTorch's 20 gradients: worst tensor's L2 gap to PyTorch / to float64 reference_step")
    for case, (optimizer, peak) in CASES.items():
        lr_at = cosine(peak, peak / 10, UPDATES)
        adapters = {framework: fresh(framework, spec, optimizer, data) for framework in ["torch", *frameworks]}
        definition, state = init_weights(spec, 0), {}
        for k in range(UPDATES):
            batch = slice(k * BATCH, (k + 1) * BATCH)
            grads = adapters["torch"].loss_and_gradients(data.train_x[batch], data.train_y[batch])[1]
            for framework, adapter in adapters.items():
                apply_gradients(framework, adapter, grads, lr_at(k))
            definition, state = reference_step(optimizer, definition, grads, state, lr_at(k))
        weights = {framework: adapter.get_weights() for framework, adapter in adapters.items()}
        cells = [f"{framework} {max(gap(w[n], weights['torch'][n]) for n in w):.1e} / "
                 f"{max(gap(w[n], definition[n]) for n in w):.1e}" for framework, w in weights.items()]
        print(f"  {case:40s} " + "   ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-threads", type=int, default=0, help="PyTorch's intra-op threads (0: its default)")
    args = parser.parse_args()
    # Loading MXNet sets PyTorch's intra-op threads to 1, and PyTorch's float32 gradients depend
    # on that count: each part sets it again, so that every figure is at the count printed.
    threads = args.torch_threads or torch.get_num_threads()
    from harness.data import load_fashion_mnist
    from tests.test_optimizer_parity import BATCH, OTHERS, UPDATES, smooth_lenet

    spec = smooth_lenet()
    data = load_fashion_mnist(download=False, train_size=UPDATES * BATCH, test_size=500)
    parts = [lambda: twenty_updates(spec, data, OTHERS),
             lambda: gradients_against_float64(spec, data, ["torch", *OTHERS]),
             lambda: rules_alone(spec, data, OTHERS)]
    if "mxnet" in OTHERS:
        parts.insert(2, mxnet_loss_against_float64)
    for part in parts:
        torch.set_num_threads(threads)
        part()

if __name__ == "__main__":
    main()
