# One entry point for users and CI. Everything installs into .venv from pinned versions in pyproject.toml.
VENV   ?= .venv
PYTHON ?= python3
BIN     = $(VENV)/bin

.PHONY: setup setup-torch demo test pytest lit bench clean

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

# The main job on the shipped example: run every stage against the trained model, then write the HLS project.
demo: setup
	$(BIN)/lstmc verify examples/tiny_lstm/model.onnx --inputs examples/tiny_lstm/inputs.npz
	$(BIN)/lstmc compile examples/tiny_lstm/model.onnx -o build/tiny_lstm

test: pytest lit

pytest: setup
	$(BIN)/python -m pytest -q

lit: setup
	$(BIN)/lit -v lit_tests

bench: setup
	$(BIN)/python benchmarks/import_scale.py
	$(BIN)/python benchmarks/passes_scale.py

clean:
	rm -rf $(VENV) .pytest_cache
