# `make run` and `make test` set everything up on a fresh machine: the virtual environment,
# the pinned packages and the Fashion-MNIST files.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA_DIR := /usr/share/datasets/fashion-mnist
ARGS ?=

.PHONY: setup data run test bench clean

setup: $(STAMP) data

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

run: setup
	$(PY) -m harness $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

bench: setup
	$(PY) -m benchmarks.bench $(ARGS)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
