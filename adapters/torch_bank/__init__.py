"""The run bank's PyTorch parts: K networks as one stacked network (``network``) and their optimizer
updates as one batched step (``optim``). ``harness.bank.trainer`` drives them run by run."""
