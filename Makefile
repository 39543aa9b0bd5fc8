# Each target builds its own virtual environment from nothing. torch is pinned and installed first:
# an unpinned torch pulls a CUDA build of several GB on a CPU-only machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/lfe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/lfe

demo: setup
	$(BIN)/lfe demo --out out/demo

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_extract.py
	$(BIN)/python benchmarks/bench_analyze.py

clean:
	rm -rf $(VENV) out
