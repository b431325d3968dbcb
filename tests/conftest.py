from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def fixture_models() -> list[Path]:
    """Every committed fixture model (QCDQ and QONNX Quant forms)."""
    return sorted(FIXTURES.glob("*.onnx"))


def expected_for(model: Path) -> Path:
    stem = model.stem[: -len("_quant")] if model.stem.endswith("_quant") else model.stem
    return model.with_name(stem + ".npz")


@pytest.fixture
def root() -> Path:
    return ROOT
