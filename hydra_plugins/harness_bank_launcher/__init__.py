"""``hydra/launcher=bank`` (conf/hydra/launcher/bank.yaml): a sweep's runs trained in run banks.

Hydra finds launchers in the ``hydra_plugins`` namespace package only; the work is done in
``harness.bank``, this package is the seam."""
