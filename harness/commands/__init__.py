"""Commands that are not a training run; each reuses the runner's pieces."""
