"""The verification contract, stage by stage (see README, "The verification contract").

- qrnn equals the onnxruntime reference bit for bit.
- integer (and every later stage) equals the reference bit for bit when every scale is a power of two;
  otherwise it may differ only in sequences whose first diverging quantizer is a float32 rounding tie of the
  reference (lstmc.tie_trace traces every mismatching sequence and classifies it), or, in a sequence where no
  quantizer diverges, at outputs no quantizer produces (FINN-GL's carried c_t = DQ(c1) + DQ(c2)) by float32
  rounding within the float trace's own error bound (a third class, counted with its largest error in ulps).
  Any other mismatch fails, however rare. Ties are counted and their largest output error reported, not
  bounded: after a tie the design follows a different valid trajectory (a flipped cell-state code can move h by
  several LSBs later on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstmc.stages import Comparison, compare, max_lsb
from lstmc.tie_trace import SequenceVerdict, TieTracer

TIE_CONTRACT = (
    "differences only at float32 ties (each mismatching sequence traced to its first diverging quantizer) "
    "or by float32 rounding of an unquantized output"
)


@dataclass
class StageReport:
    stage: str
    rows: list[Comparison]
    contract: str
    ok: bool
    reason: str = ""
    verdicts: dict[int, SequenceVerdict] = field(default_factory=dict)  # per mismatching sequence, when traced

    @property
    def ties(self) -> list[SequenceVerdict]:
        return [v for v in self.verdicts.values() if v.tie]

    @property
    def rounded(self) -> list[SequenceVerdict]:
        """Sequences whose only differences are float32 rounding of unquantized outputs (no quantizer diverges)."""
        return [v for v in self.verdicts.values() if v.float_rounding]

    @property
    def real(self) -> list[SequenceVerdict]:
        return [v for v in self.verdicts.values() if not v.ok]

    @property
    def rounded_max_ulp(self) -> float | None:
        """Largest float32 rounding error (ulps of the reference) of an unquantized output."""
        return max((r.ulps for v in self.rounded for r in v.rounding), default=None)

    @property
    def tie_max_lsb(self) -> float | None:
        """Largest output error (LSBs) within the sequences that diverged at a tie."""
        known = [r.tie_max_lsb for r in self.rows if r.tie_max_lsb is not None]
        return max(known) if known else None


def check_stage(
    stage: str,
    reference: dict[str, np.ndarray],
    got: dict[str, np.ndarray],
    lsbs: dict[str, float],
    all_po2: bool,
    tracer: TieTracer | None = None,
) -> StageReport:
    """Check one stage against the reference. For a non-bit-exact stage with mismatches, `tracer` (built on the
    model and the same inputs) classifies each mismatching sequence; without one the mismatches cannot be told
    from bugs, and the stage fails."""
    rows = compare(reference, got, lsbs)
    mismatches = sum(r.mismatches for r in rows)
    if stage == "qrnn" or all_po2:
        ok = mismatches == 0
        reason = f"{mismatches} mismatching elements" if not ok else ""
        return StageReport(stage, rows, "bit-exact with the reference", ok, reason)
    for r in rows:
        r.ties, r.rounded, r.real = 0, 0, r.mismatches
    if not mismatches:
        return StageReport(stage, rows, TIE_CONTRACT, True)
    if tracer is None:
        return StageReport(
            stage,
            rows,
            TIE_CONTRACT,
            False,
            f"{mismatches} mismatching elements and no tie tracer to tell them from bugs",
        )
    verdicts = tracer.classify(reference, got)
    batched = tracer.batched()
    tie_seqs = np.array(sorted(s for s, v in verdicts.items() if v.tie), dtype=np.int64)
    rounded_seqs = sorted(s for s, v in verdicts.items() if v.float_rounding)
    for r in rows:
        ref, out = np.asarray(reference[r.output]), np.asarray(got[r.output])
        if not batched:
            ref, out = ref[None], out[None]
        per_seq = (ref != out).reshape(ref.shape[0], -1).sum(axis=1)
        r.ties = int(per_seq[tie_seqs].sum()) if tie_seqs.size else 0
        checked = [c for s in rounded_seqs for c in verdicts[s].rounding if c.output == r.output]
        r.rounded = len(checked)
        r.rounded_max_ulp = max((c.ulps for c in checked), default=None)
        r.real = r.mismatches - r.ties - r.rounded
        scale = lsbs.get(r.output)
        if r.ties and scale:
            a, b = ref[tie_seqs].astype(np.float64), out[tie_seqs].astype(np.float64)
            r.tie_max_lsb = max_lsb(ref[tie_seqs], out[tie_seqs], np.abs(b - a), scale)
    report = StageReport(stage, rows, TIE_CONTRACT, True, verdicts=verdicts)
    if report.real:
        report.ok = False
        report.reason = (
            f"{len(report.real)} of {len(verdicts)} mismatching sequences do not start at a float32 "
            f"tie and are not float32 rounding of an unquantized output"
        )
    return report
