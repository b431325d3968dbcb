# One entry point for users and CI. Everything installs into .venv from pinned versions in pyproject.toml.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin

.PHONY: setup setup-torch demo demo-tiny train-stock sweep-stock test lint pytest lit bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

# Optional: torch + Brevitas, for the exporter, training and fixture regeneration. Brevitas goes in with
# --no-deps because its [export] extra pins an old onnx.
setup-torch: setup
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q --no-deps brevitas==0.13.4
	$(BIN)/python -m pip install -q dependencies==2.0.1 unfoldNd==0.2.3 onnxoptimizer==0.4.2 "setuptools<81" qonnx==1.0.0

# The main job on the shipped example, the stock-prediction ConvLSTM (no torch needed): every stage against
# onnxruntime on the shipped windows, every stage against Brevitas' logits on the whole test split, then the
# HLS project with its testbench.
demo: setup
	$(BIN)/lstmc verify examples/stock/model.onnx --inputs examples/stock/inputs.npz
	$(BIN)/python examples/stock/evaluate.py
	$(BIN)/lstmc compile examples/stock/model.onnx -o build/stock_kernel

# The smallest example: one LSTM layer.
demo-tiny: setup
	$(BIN)/lstmc verify examples/tiny_lstm/model.onnx --inputs examples/tiny_lstm/inputs.npz
	$(BIN)/lstmc compile examples/tiny_lstm/model.onnx -o build/tiny_lstm

# Re-train the stock model (needs `make setup-torch`; a few minutes on 2 cores) and the mixed-precision sweep.
train-stock: setup-torch
	$(BIN)/python examples/stock/train.py --out build/stock/w8 --config w8

sweep-stock: setup-torch
	$(BIN)/python examples/stock/sweep.py --retrain

test: lint pytest lit

# ruff (lint + format) and pyright (basic), configured in pyproject.toml, over the whole tree.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYRIGHT_PYTHON_IGNORE_WARNINGS=1 $(BIN)/pyright

pytest: setup
	$(BIN)/python -m pytest -q -n auto --dist loadfile  # one file per worker: module fixtures stay shared

lit: setup
	$(BIN)/lit -v lit_tests

bench: setup
	$(BIN)/python benchmarks/import_scale.py
	$(BIN)/python benchmarks/passes_scale.py
	$(BIN)/python benchmarks/compile_scale.py
	$(BIN)/python benchmarks/interpreter_throughput.py
	$(BIN)/python benchmarks/csim_throughput.py
	$(BIN)/python benchmarks/csim_cold.py
	$(BIN)/python benchmarks/mvau_bound.py
	$(BIN)/python benchmarks/datapath_widths.py

clean:
	rm -rf $(VENV) .pytest_cache
