# `make run` and `make test` set everything up on a fresh machine: the virtual environment,
# the pinned packages and the Fashion-MNIST files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR := /usr/share/datasets/fashion-mnist
ARGS ?=
# The committed study: parquet of every run and the report generated from it.
STUDY := results/d2l_study
# Parallel runs with one CPU thread each: measured faster on 2 cores than one run at a time
# with two threads, for all three frameworks (README, "Running the study").
JOBS ?= 2

.PHONY: setup data browser run test bench reproduce guideline report clean

setup: $(STAMP) data browser

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[all,dev]' -c constraints.txt
	touch $(STAMP)

# Debian's dataset-fashion-mnist package when we can install it; otherwise the harness
# downloads the files into ~/.cache/harness on first use.
data:
	@if [ -f $(DATA_DIR)/train-images-idx3-ubyte.gz ] || [ -f $(DATA_DIR)/train-images-idx3-ubyte ]; then \
	  echo "Fashion-MNIST: $(DATA_DIR)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; \
	else \
	  echo "Fashion-MNIST: not installed system-wide; the first run downloads it to ~/.cache/harness"; \
	fi

# Headless Chromium checks that the report renders (tests/test_report.py); Debian's package when
# we can install it, otherwise that one test is skipped.
browser:
	@if command -v chromium >/dev/null || [ -x /usr/bin/chromium ]; then \
	  echo "Chromium: $$(command -v chromium || echo /usr/bin/chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Chromium: installing Debian's chromium (renders the report in tests)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "Chromium: not installed; the report's browser test will be skipped"; \
	fi

run: setup
	$(PY) -m harness $(ARGS)

# Two test processes (pytest-xdist): most of the suite's time is subprocess start-ups and
# single-threaded framework set-up, which two cores overlap (TEST_JOBS=0: all in one process).
TEST_JOBS ?= 2
test: setup
	$(PY) -m pytest -n $(TEST_JOBS) $(ARGS)

# Everything but the tests marked slow (end-to-end training in real frameworks, CLI runs that
# train): about a minute, for while you work. `make test` (what CI runs) still runs them all.
.PHONY: test-fast
test-fast: setup
	$(PY) -m pytest -n $(TEST_JOBS) -m "not slow" $(ARGS)

bench: setup
	$(PY) -m benchmarks.bench $(ARGS)

# The d2l comparison (studies/d2l.yaml): 54 clean-protocol runs + 15 d2l-protocol runs of 30 epochs, then
# the report. Finished runs are skipped and a killed one resumes from its last epoch: run it again to continue.
reproduce: setup
	$(PY) -m harness study studies/d2l.yaml --jobs $(JOBS) $(ARGS)

# The guideline study (studies/guideline.yaml): the exploratory grid and final runs (issue 22, all 440 committed),
# then the confirmatory phase declared before its runs (issue 32: 240 fresh seeds and the claim-6 re-grid, about
# 20 compute hours more), then the report (results/guideline_study/_report/). Run it again to continue.
guideline: setup
	$(PY) -m harness study studies/guideline.yaml --jobs $(JOBS) $(ARGS)

# HTML + Markdown + PNG report (into <dir>/_report/) from parquet only; RESULTS=results for your own runs.
RESULTS ?= $(STUDY)
report: $(STAMP)
	$(PY) -m harness report $(RESULTS) $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
