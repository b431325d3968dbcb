"""Execution stages: the same inputs through the reference and through each level of the compiled design.

A stage is a function (model, inputs) -> outputs with inputs keyed by the model's graph input names and
outputs by its graph output names; arrays carry a leading batch axis (one entry per sequence).
Later compiler levels register themselves here (integer, dataflow, csim).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import onnx

from lstmc.errors import LstmcError

Stage = Callable[[onnx.ModelProto, dict[str, np.ndarray]], dict[str, np.ndarray]]


def _reference(model, inputs):
    from lstmc.reference import run_reference

    return run_reference(model, inputs)


def _imported(model, inputs):
    """The model imported for these inputs: a symbolic sequence length takes the inputs' length."""
    from lstmc.frontend import bind_sequence_length
    from lstmc.frontend.onnx_import import import_model

    return import_model(bind_sequence_length(model, arrays=inputs))


def _compiled(stage: str) -> Stage:
    def run(model, inputs):
        from lstmc.interpreter import run_function
        from lstmc.pipeline import lower_to_stage

        return run_function(lower_to_stage(_imported(model, inputs), stage), inputs)

    return run


def _csim(model, inputs):
    from lstmc.hls.build import csim_stage
    from lstmc.pipeline import lower_to_stage

    return csim_stage(lower_to_stage(_imported(model, inputs), "dataflow"), inputs)


STAGES: dict[str, Stage] = {
    "reference": _reference,
    "qrnn": _compiled("qrnn"),
    "integer": _compiled("integer"),
    "dataflow": _compiled("dataflow"),
    "csim": _csim,
}


def run_stage(name: str, model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    if name not in STAGES:
        raise LstmcError(f"unknown stage '{name}' (available: {', '.join(STAGES)})")
    return STAGES[name](model, inputs)


@dataclass
class Comparison:
    """How one stage's outputs differ from another's, per output, in elements and in LSBs."""

    output: str
    elements: int
    mismatches: int
    max_abs_error: float
    max_lsb: float | None  # largest error in units of the output quantizer's scale, when known
    # Filled by lstmc.verify when it traces the mismatches: elements in sequences whose first divergence is a
    # float32 tie, elements of an unquantized output that differ by float32 rounding (in sequences where no
    # quantizer diverges), the rest, the largest error (LSBs) within the tie sequences and the largest rounding
    # error (float32 ulps of the reference).
    ties: int | None = None
    real: int | None = None
    tie_max_lsb: float | None = None
    rounded: int | None = None
    rounded_max_ulp: float | None = None

    @property
    def rate(self) -> float:
        return self.mismatches / self.elements if self.elements else 0.0


def compare(expected: dict[str, np.ndarray], got: dict[str, np.ndarray], lsb: dict[str, float] | None = None):
    rows = []
    for name, ref in expected.items():
        if name not in got:
            raise LstmcError(f"stage produced no output '{name}'")
        out = got[name]
        if out.shape != ref.shape:
            raise LstmcError(f"output '{name}' has shape {list(out.shape)}, expected {list(ref.shape)}")
        diff = np.abs(out.astype(np.float64) - ref.astype(np.float64))
        mism = int(np.count_nonzero(out != ref))
        max_err = float(diff.max()) if diff.size else 0.0
        scale = (lsb or {}).get(name)
        rows.append(Comparison(name, int(ref.size), mism, max_err, max_lsb(ref, out, diff, scale) if scale else None))
    return rows


def max_lsb(ref: np.ndarray, out: np.ndarray, diff: np.ndarray, scale: float) -> float:
    """Largest error in LSBs. Both outputs are codes times the scale rounded to float32, so an error is a whole
    number of LSBs up to that rounding (2^-24 relative per value: about 4e-3 LSB for 16-bit codes); snap to it."""
    if not diff.size:
        return 0.0
    lsbs = diff / scale
    snapped = np.round(lsbs)
    noise = (np.abs(ref.astype(np.float64)) + np.abs(out.astype(np.float64))) / scale * 2.0**-23
    return float(np.where(np.abs(lsbs - snapped) <= noise, snapped, lsbs).max())
