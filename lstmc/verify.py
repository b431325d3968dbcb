"""The verification contract, stage by stage (see README, "The verification contract").

- qrnn equals the onnxruntime reference bit for bit.
- integer (and every later stage) equals the reference bit for bit when every scale is a power of two;
  otherwise it may differ only where the float reference sits at a rounding tie within float32 error:
  at most 1 LSB, on at most 1e-4 of all output elements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lstmc.stages import Comparison, compare

MAX_TIE_RATE = 1e-4


@dataclass
class StageReport:
    stage: str
    rows: list[Comparison]
    contract: str
    ok: bool
    reason: str = ""


def check_stage(stage: str, reference: dict[str, np.ndarray], got: dict[str, np.ndarray],
                lsbs: dict[str, float], all_po2: bool) -> StageReport:
    rows = compare(reference, got, lsbs)
    mismatches = sum(r.mismatches for r in rows)
    elements = sum(r.elements for r in rows)
    if stage == "qrnn" or all_po2:
        contract = "bit-exact with the reference"
        ok = mismatches == 0
        reason = f"{mismatches} mismatching elements" if not ok else ""
        return StageReport(stage, rows, contract, ok, reason)
    contract = f"ties only: <= 1 LSB, rate <= {MAX_TIE_RATE:g}"
    worst = max((r.max_lsb for r in rows if r.max_lsb is not None), default=0.0)
    unknown = [r.output for r in rows if r.mismatches and r.max_lsb is None]
    rate = mismatches / elements if elements else 0.0
    # 1 LSB up to float32 noise in the reference's dequantized output
    if unknown:
        return StageReport(stage, rows, contract, False, f"outputs {unknown} differ and have no known LSB")
    if worst > 1.0 + 1e-3:
        return StageReport(stage, rows, contract, False, f"largest error {worst:.3g} LSB > 1")
    if rate > MAX_TIE_RATE:
        return StageReport(stage, rows, contract, False, f"mismatch rate {rate:.2e} > {MAX_TIE_RATE:g}")
    return StageReport(stage, rows, contract, True)
