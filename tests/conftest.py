import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a red `make test` (and CI) is a regression, not an
# unlucky draw. `HYPOTHESIS_PROFILE=explore make pytest` searches new ones (how a requantizer whose inputs
# all lie beyond its clamp was found); a failure found that way belongs in the test as an @example.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def _ap_types_available() -> bool:
    try:
        from lstmc.hls.project import ap_types_dir

        ap_types_dir()
        return True
    except Exception:
        return False


# C-simulation needs a C++ compiler and hls4ml's ap_types headers; CI has both (the README's prerequisites), so
# these skips only apply on a machine without g++.
HAVE_CXX = shutil.which("g++") is not None
needs_cxx = pytest.mark.skipif(not HAVE_CXX, reason="C-simulation needs g++")
needs_ap_types = pytest.mark.skipif(not _ap_types_available(), reason="needs hls4ml's ap_types headers")
HAVE_CSIM = HAVE_CXX and _ap_types_available()
needs_csim = pytest.mark.skipif(not HAVE_CSIM, reason="C-simulation needs g++ and hls4ml's ap_types headers")


# Ops lstmc's exporter may place in a Scan body (the importer's contract).
SCAN_BODY_OPS = {
    "QuantizeLinear",
    "DequantizeLinear",
    "Clip",
    "MatMul",
    "Add",
    "Sub",
    "Mul",
    "Sigmoid",
    "Tanh",
    "Identity",
    "Constant",
}


def fixture_models() -> list[Path]:
    """Every committed fixture model (QCDQ, QONNX Quant and Brevitas QuantLSTMCell forms)."""
    return sorted(FIXTURES.glob("*.onnx"))


def expected_for(model: Path) -> Path:
    stem = model.stem.removesuffix("_quant").removesuffix("_cell")
    return model.with_name(stem + ".npz")


def load_expected(model: Path) -> dict:
    """The fixture's X and Brevitas outputs, shaped like the model's tensors plus a leading sequence axis.

    Brevitas' own QuantLSTMCell export (`<name>_cell.onnx`) keeps torch's batch axis: X [T, 1, I],
    Y [T, 1, H*D], h_n/c_n [L*D, 1, H]; the .npz holds the Scan form X [T, I], Y [T, H*D], h_n/c_n [L*D, H]."""
    data = dict(np.load(expected_for(model)))
    if model.stem.endswith("_cell"):
        data = {k: v[:, :, None, :] for k, v in data.items()}
    return data


@pytest.fixture
def root() -> Path:
    return ROOT
