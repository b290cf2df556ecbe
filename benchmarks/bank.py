"""Image-updates per second of a run bank against the single-run adapter, in one process.

    python -m benchmarks.bank                       # CPU (and CUDA when present), K = 1, 2, 4, 8, 16
    python -m benchmarks.bank --device cuda --sizes 16,64,256,1024 --epochs 2 --json bank.json

For each device: the single-run ``TorchAdapter`` (at the given threads, and on the CPU also at
one thread: what each of today's two single-thread processes does), then a bank of K runs
(``harness.bank.trainer``: seeds 0..K-1, the same schedule) for K in ``--sizes``, each timed over
``--epochs`` epochs after one epoch of warm-up, training only (evaluation excluded, as in the
rows' ``train_time_s``). An image-update is one image through one run's forward, backward and
update. The peak is measured here: SGEMM (float32 ``torch.mm``, 2048^2) on the CPU, the float32
matmul with TF32 off (8192^2) on a GPU; the fraction of peak counts 3x the network's forward
multiply-adds x 2 flops per image-update (forward, and backward for inputs and weights).
On a shared CPU wall time depends on who else runs: the CPU-time rate (process time) is printed too.
"""

from __future__ import annotations

import argparse
import json
import platform
import time



def forward_flops(spec) -> int:
    """2 x the multiply-adds of one image's forward pass through ``spec``."""
    macs = 0
    for layer, shape in zip(spec.layers, spec.input_shapes()):
        if layer.type == "conv":
            c, h, w = shape
            out = h + 2 * layer.padding - layer.kernel + 1
            macs += out * out * layer.channels * c * layer.kernel**2
        elif layer.type == "dense":
            macs += shape[0] * layer.units
    return 2 * macs


def peak_flops(torch, device) -> float:
    n = 8192 if device.type == "cuda" else 2048
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    best = float("inf")
    for _ in range(5):
        sync(torch, device)
        start = time.perf_counter()
        torch.mm(a, b)
        sync(torch, device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def sync(torch, device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def configs(args, k: int):
    from harness.preflight import preflight

    seeds = ",".join(str(s) for s in range(k))
    return preflight(["-m", "framework=torch", f"device={args.device_now}", f"data.train_size={args.images}",
                      "data.test_size=500", f"threads={args.threads}", "progress=false", "scheduler=cosine",
                      "scheduler.total_steps=null", f"epochs={args.epochs + 1}", f"seed={seeds}"])


def single_rate(args, cfg) -> tuple[float, float]:
    """(image-updates per second of wall time, per second of process time) of one run's adapter."""
    from harness.runner import _set_up, batch_order

    setup = _set_up(cfg)
    n = len(setup.data.train_y)
    wall = cpu = 0.0
    for epoch in range(args.epochs + 1):
        setup.adapter.synchronize()
        w, c = time.perf_counter(), time.process_time()
        setup.adapter.train_epoch(batch_order(cfg.seed, epoch, n), cfg.batch_size, setup.plan.rates(epoch))
        setup.adapter.synchronize()
        if epoch:  # the first epoch warms up
            wall, cpu = wall + time.perf_counter() - w, cpu + time.process_time() - c
    return n * args.epochs / wall, n * args.epochs / cpu


def bank_rate(args, cfgs) -> tuple[float, float]:
    from harness.bank import trainer

    bank, template = trainer.assemble(cfgs)
    n, k = len(template.data.train_y), len(cfgs)
    wall = cpu = 0.0
    for epoch in range(args.epochs + 1):
        trace = {}
        rows = trainer.train_epoch(bank, cfgs[0].batch_size, trace)
        for member in bank.members:
            member.epoch += 1
        if epoch:  # training only, as the single run's
            wall, cpu = wall + rows[0]["train_time_s"], cpu + trace["train_cpu_s"]
    return k * n * args.epochs / wall, k * n * args.epochs / cpu


def mechanisms(sizes: list[int], batch: int = 256) -> None:
    """How to train K LeNets at once, measured in CPU time per image-update (one thread: on a
    shared machine the process time is what a mechanism costs): the bank's grouped convolutions
    (channels-last and NCHW, each run its own batch or all runs one batch), torch.func's
    ``vmap(grad(functional_call))`` over stacked parameters, and K single models one after another."""
    import torch
    import torch.nn.functional as F
    from omegaconf import OmegaConf
    from torch.func import functional_call, grad, vmap

    from adapters.torch_adapter import _blocks
    from adapters.torch_bank.network import BankNetwork
    from harness.model import init_weights, spec_from_config
    from harness.paths import CONF_DIR

    torch.set_num_threads(1)
    spec = spec_from_config(OmegaConf.load(CONF_DIR / "model" / "lenet.yaml"))
    x_all, y_all = torch.rand(3000, 1, 28, 28), torch.randint(0, 10, (3000,))

    def cpu_rate(fn, k, repeats=4, rounds=3):
        fn()
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(repeats):
                fn()
            best = min(best, (time.process_time() - start) / repeats)
        return k * batch / best

    print(f"{'K':>4} {'grouped, NHWC':>14} {'one batch, NHWC':>16} {'grouped, NCHW':>14} {'vmap':>8} {'K single':>9}"
          "   (image-updates per CPU-second, 1 thread)")
    for k in sizes:
        weights = [init_weights(spec, seed) for seed in range(k)]
        idx = torch.stack([torch.randperm(3000)[:batch] for _ in range(k)])
        results = []
        for channels_last, shared in ((True, False), (True, True), (False, False)):
            net = BankNetwork(spec, weights, torch.device("cpu"), channels_last=channels_last)

            def step(net=net, shared=shared):
                x = x_all[idx[:1]] if shared else x_all[idx]
                y = y_all[idx[:1]].expand(k, batch) if shared else y_all[idx]
                grads = torch.autograd.grad(net.losses(net.forward(x, 1 if shared else k), y).sum(),
                                            list(net.params.values()))
                with torch.no_grad():
                    for p, g in zip(net.params.values(), grads):
                        p.sub_(0.01 * g)
            results.append(cpu_rate(step, k))
        model = torch.nn.Sequential(*_blocks(spec))
        stacked = {n: torch.stack([p.detach()] * k) for n, p in model.named_parameters()}
        vgrad = vmap(grad(lambda p, x, y: F.cross_entropy(functional_call(model, p, (x,)), y)))

        def vmapped():
            grads = vgrad(stacked, x_all[idx], y_all[idx])
            for n in stacked:
                stacked[n].sub_(0.01 * grads[n])
        results.append(cpu_rate(vmapped, k))
        models = [torch.nn.Sequential(*_blocks(spec)).to(memory_format=torch.channels_last) for _ in range(k)]
        sgds = [torch.optim.SGD(m.parameters(), lr=0.01) for m in models]

        def one_by_one():
            for m, sgd, i in zip(models, sgds, idx):
                loss = F.cross_entropy(m(x_all[i]), y_all[i])
                sgd.zero_grad()
                loss.backward()
                sgd.step()
        results.append(cpu_rate(one_by_one, k))
        print(f"{k:>4} {results[0]:>14,.0f} {results[1]:>16,.0f} {results[2]:>14,.0f} {results[3]:>8,.0f} {results[4]:>9,.0f}",
              flush=True)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bank", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="auto: the CPU, then CUDA when present")
    parser.add_argument("--sizes", default="1,2,4,8,16", help="bank sizes K, comma-separated")
    parser.add_argument("--images", type=int, default=2048, help="training images per epoch (data.train_size)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs, after one of warm-up")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: the framework's default, all cores)")
    parser.add_argument("--json", help="also write the table to this file")
    parser.add_argument("--mechanisms", action="store_true",
                        help="instead: compare the ways of training K networks at once (CPU time, one thread)")
    args = parser.parse_args(argv)
    sizes = [int(k) for k in args.sizes.split(",")]
    if args.mechanisms:
        mechanisms(sizes)
        return {}
    import torch

    from harness.launch import limit_cpu_threads
    from harness.model import spec_from_config

    limit_cpu_threads(args.threads)
    devices = ["cpu", "cuda"] if args.device == "auto" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    report = {"torch": torch.__version__, "python": platform.python_version(), "images": args.images,
              "epochs": args.epochs, "devices": []}
    for name in devices:
        args.device_now = name
        device = torch.device("cuda:0" if name == "cuda" else "cpu")
        torch.backends.cuda.matmul.allow_tf32 = False  # the harness pins TF32 off; so does the peak
        cfg = configs(args, 1)[0]
        per_image = 3 * forward_flops(spec_from_config(cfg.model))
        peak = peak_flops(torch, device)
        what = torch.cuda.get_device_name(0) if name == "cuda" else _cpu_model()
        print(f"\n{name}: {what}, {torch.get_num_threads()} threads; peak {peak / 1e9:,.0f} GFLOP/s "
              f"({'float32 matmul, TF32 off' if name == 'cuda' else 'SGEMM'}); {per_image / 1e6:.2f} MFLOP per image-update")
        print(f"{'trainer':<28} {'K':>5} {'image-updates/s':>16} {'per CPU-second':>15} {'of peak':>8}")
        rows = []
        entry = {"device": name, "name": what, "threads": torch.get_num_threads(), "peak_flops": peak,
                 "flops_per_image_update": per_image}

        def show(label, k, rate):
            rows.append({"trainer": label, "K": k, "image_updates_per_s": rate[0], "per_cpu_second": rate[1],
                         "fraction_of_peak": rate[0] * per_image / peak})
            print(f"{label:<28} {k:>5} {rate[0]:>16,.0f} {rate[1]:>15,.0f} {rate[0] * per_image / peak:>8.2%}", flush=True)
            if args.json:  # after every row: a run cut short by a time limit keeps what it measured
                with open(args.json, "w") as handle:
                    json.dump({**report, "devices": [*report["devices"], {**entry, "rows": rows}]}, handle, indent=1)

        show("single run (adapter)", 1, single_rate(args, cfg))
        if name == "cpu" and torch.get_num_threads() > 1:
            threads = torch.get_num_threads()
            torch.set_num_threads(1)
            one = single_rate(args, cfg)
            torch.set_num_threads(threads)
            show("single run, 1 thread", 1, one)
            print(f"{'(today: ' + str(threads) + ' such processes)':<28} {threads:>5} {one[0] * threads:>16,.0f}"
                  f"  (at best: {threads} x the line above)")
        for k in sizes:
            show("bank", k, bank_rate(args, configs(args, k)))
        report["devices"].append({**entry, "rows": rows})
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    return report


def _cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
