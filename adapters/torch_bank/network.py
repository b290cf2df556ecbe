"""K copies of one network spec, trained as one PyTorch graph: the bank's model.

Each run's parameters are one slice of a stacked tensor (``(K, out, in, kh, kw)`` for a
convolution, ``(K, out, in)`` for a dense layer), so one kernel call serves every run:

- a convolution is one grouped convolution: the K runs' feature maps side by side on the
  channel axis (``(B, K*C, H, W)``), ``groups=K``. When the runs of a bank share their batches
  (runs that share a seed share every batch order, ``runner.batch_order``), the first
  convolution reads the batch once: ``groups=U`` for U distinct batches, the runs ordered so
  that those sharing a batch sit side by side (for one seed, one dense convolution of K*6
  channels);
- pooling and activations act on the stacked channels as they are;
- a dense layer is one batched matmul (``torch.baddbmm``) over ``(K, B, in)``.

Weights and gradients of run k are never mixed with another run's: a NaN in one run stays in
that run's slice. The loss is the sum over runs of each run's mean cross-entropy, so the
gradient in run k's slice is that of its own mean loss. docs/bank.md measures this mechanism
against ``torch.func.vmap`` and says where its numbers can differ from a single run's.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from harness.model import ModelSpec, placed_activations

ACTIVATION = {"relu": torch.relu, "sigmoid": torch.sigmoid, None: None}


class BankNetwork:
    """The stacked parameters of K runs of ``spec`` and their forward pass."""

    def __init__(self, spec: ModelSpec, weights: list[dict[str, np.ndarray]], device: torch.device,
                 channels_last: bool = True) -> None:
        # channels_last: a grouped convolution in NCHW took 2.5-15x longer on the CPU (docs/bank.md)
        self.spec, self.device, self.channels_last = spec, device, channels_last
        self.names = list(spec.param_shapes())
        self.params: dict[str, torch.Tensor] = {
            name: torch.from_numpy(np.stack([w[name] for w in weights])).to(device).requires_grad_(True)
            for name in self.names
        }
        self.activations = placed_activations(spec)

    @property
    def size(self) -> int:
        return next(iter(self.params.values())).shape[0]

    def keep(self, members: torch.Tensor) -> None:
        """Only the runs at ``members`` (indices into the bank) stay: the others have stopped."""
        with torch.no_grad():
            self.params = {n: p.index_select(0, members).detach().requires_grad_(True) for n, p in self.params.items()}

    def forward(self, x: torch.Tensor, shared: int) -> torch.Tensor:
        """Logits ``(K, B, classes)`` of ``x``: ``(U, B, C, H, W)``, one batch for each of the
        ``shared`` = U groups of K/U consecutive runs that read the same batch (U = K: every run
        its own batch)."""
        k = self.size
        u, b = x.shape[0], x.shape[1]
        h = x.transpose(0, 1).reshape(b, u * x.shape[2], *x.shape[3:])  # (B, U*C, H, W)
        if self.channels_last:
            h = h.contiguous(memory_format=torch.channels_last)
        groups = u
        for i, (layer, activation) in enumerate(zip(self.spec.layers, self.activations)):
            if layer.type == "conv":
                w = self.params[f"{i}.weight"]
                h = F.conv2d(h, w.reshape(-1, *w.shape[2:]), self.params[f"{i}.bias"].reshape(-1),
                             padding=layer.padding, groups=groups)
                groups = k  # every later layer sees each run's own feature maps
            elif layer.type == "pool":
                pool = F.max_pool2d if layer.kind == "max" else F.avg_pool2d
                h = pool(h, layer.kernel, stride=layer.stride or layer.kernel)
            elif layer.type == "flatten":
                if groups != k:  # no convolution before: one copy of the input per run
                    h = h.reshape(b, u, -1).repeat_interleave(k // u, dim=1)
                h = h.reshape(b, k, -1).transpose(0, 1)  # (K, B, C*H*W), C, H, W order as a single run's
            else:
                w = self.params[f"{i}.weight"]
                h = torch.baddbmm(self.params[f"{i}.bias"].unsqueeze(1), h, w.transpose(1, 2))
            if activation is not None:
                h = ACTIVATION[activation](h)
        return h

    def losses(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Each run's mean cross-entropy ``(K,)``; ``y``: ``(K, B)``."""
        k, b, classes = logits.shape
        return F.cross_entropy(logits.reshape(k * b, classes), y.reshape(k * b), reduction="none").view(k, b).mean(1)
