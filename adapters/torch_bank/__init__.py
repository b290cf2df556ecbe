"""The run bank's PyTorch parts: K networks as one stacked network (``network``), their optimizer
updates as one batched step (``optim``), and the engine that trains and evaluates an epoch of
them from numpy in to numbers out (``engine``). ``harness.bank.trainer`` drives it run by run."""
