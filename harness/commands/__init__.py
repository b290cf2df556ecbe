"""Commands that are not training runs; each reuses the pieces a run is made of."""
