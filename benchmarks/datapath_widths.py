"""Datapath widths and estimated resources of qrnn-legalize-precision's threshold/table choices, per model.

Run: python benchmarks/datapath_widths.py [MODEL.onnx ...] [--variants V ...] [--no-emit] [--alignment]
Default models: examples/tiny_lstm/model.onnx, every tests/fixtures/*.onnx except the `_cell`/`_quant` twins
(they import to the same IR), examples/stock/model.onnx. A variant is a set of qrnn-legalize-precision options:
    default        the pass's defaults: threshold-input=accumulator act-impl=auto requant-impl=auto
                   datapath-bits=24
    aligned        the former default: thresholds on the aligned fixed-point sum, every requantizer a rounded
                   multiplier (threshold-input=aligned act-impl=threshold requant-impl=aligned)
    accumulator    threshold-input=accumulator only: scale, bias and requantizer absorbed into thresholds on the
                   raw integer accumulator where exact and cheaper
    auto           act-impl=auto only: per activation, the cheapest by lstmc.qor of thresholds, a table over
                   their input, and the requantizer kept with a table over its codes
    acc+auto       both, requantizers as before (requant-impl=aligned)
    no-cap         the defaults with datapath-bits=0: every requantizer the cheapest exact implementation,
                   however wide
Each model is lowered to the dataflow stage (PE = SIMD = 1) with the variant's legalization and estimated by
lstmc.qor.estimate_module (what `lstmc estimate` prints). Printed per model and variant: the widest MVAU
accumulator, the widest input of a threshold/table unit, the number of threshold constants (all rows) and
table entries, the widest ap_int of the emitted kernel (lowering to hlscpp costs a second per model; skip it
with --no-emit) and LUT/FF/BRAM18/DSP. With --alignment, every requantizer that keeps a non-dyadic alignment
(error_bound > 0) in the aligned design: its shift F, its widest multiplier and its recorded error bound.
The last table lists, per model, the widest weight and activation quantizer and the widest ap_int of the
default variant, against issue 12's criterion: <= 24 bits when weights and activations are <= 8 bits.
"""

from __future__ import annotations

import argparse
import re
from io import StringIO
from pathlib import Path

import numpy as np
import onnx
from xdsl.dialects.builtin import FloatAttr

from lstmc.dense import array_from_dense
from lstmc.dialects import dataflow, qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.passes.qrnn_canonicalize import QrnnCanonicalizePass
from lstmc.passes.qrnn_fold_constants import QrnnFoldConstantsPass
from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass
from lstmc.passes.qrnn_to_dataflow import QrnnToDataflowPass
from lstmc.pipeline import apply_pipeline
from lstmc.qor import estimate_module

ROOT = Path(__file__).resolve().parents[1]
OLD = {"threshold_input": "aligned", "act_impl": "threshold", "requant_impl": "aligned"}
VARIANTS = {
    "default": {},
    "aligned": OLD,
    "accumulator": {**OLD, "threshold_input": "accumulator"},
    "auto": {**OLD, "act_impl": "auto"},
    "acc+auto": {**OLD, "threshold_input": "accumulator", "act_impl": "auto"},
    "no-cap": {"datapath_bits": 0},
}
CRITERION_BITS = 24  # issue 12: the widest ap_int for models whose weights and activations are <= 8 bits


def default_models() -> list[Path]:
    fixtures = [
        p for p in sorted((ROOT / "tests" / "fixtures").glob("*.onnx")) if not p.stem.endswith(("_cell", "_quant"))
    ]
    return [ROOT / "examples" / "tiny_lstm" / "model.onnx", *fixtures, ROOT / "examples" / "stock" / "model.onnx"]


def lower(model: onnx.ModelProto, **options):
    """The dataflow-stage module with qrnn-legalize-precision's `options` (PE = SIMD = 1)."""
    passes = [
        QrnnCanonicalizePass(),
        QrnnFoldConstantsPass(),
        QrnnLegalizePrecisionPass(**options),
        QrnnToDataflowPass(),
    ]
    return apply_pipeline(import_model(model), passes)


def _bits(value) -> int:
    return value.type.get_element_type().width.data


def widths(module) -> dict[str, int]:
    """Widest MVAU accumulator and activation-unit input, threshold constants and table entries."""
    mvaus = [op for op in module.walk() if isinstance(op, dataflow.MVAUOp)]
    units = [op for op in module.walk() if isinstance(op, (qrnn.ThresholdOp, qrnn.LutOp))]
    return {
        "mvau_acc": max((_bits(op.result) for op in mvaus), default=0),
        "act_in": max((_bits(op.operands[0]) for op in units), default=0),
        "thresholds": sum(int(np.prod(op.thresholds.get_shape())) for op in units if isinstance(op, qrnn.ThresholdOp)),
        "table": sum(int(np.prod(op.table.get_shape())) for op in units if isinstance(op, qrnn.LutOp)),
    }


def widest_ap_int(module) -> int:
    from lstmc.hls.build import lower_to_hlscpp
    from lstmc.hls.emit import emit_hls_cpp

    buf = StringIO()
    emit_hls_cpp(lower_to_hlscpp(module, "lstmc_kernel"), buf)
    return max(int(w) for w in re.findall(r"ap_u?int<(\d+)>", buf.getvalue()))


def quantizer_bits(model: onnx.ModelProto) -> tuple[int, int]:
    """(widest weight quantizer, widest activation quantizer) in bits, on the folded float IR: weights are the
    quantized constants a MatMul multiplies by, activations every quantizer of a run-time value."""
    module = apply_pipeline(import_model(model), [QrnnCanonicalizePass(), QrnnFoldConstantsPass()])
    weights = [
        op.rhs.owner.quant.bits.data
        for op in module.walk()
        if isinstance(op, qrnn.MatMulOp) and isinstance(op.rhs.owner, qrnn.QConstantOp)
    ]
    weights += [
        op.lhs.owner.quant.bits.data
        for op in module.walk()
        if isinstance(op, qrnn.MatMulOp) and isinstance(op.lhs.owner, qrnn.QConstantOp)
    ]
    acts = [op.quant.bits.data for op in module.walk() if isinstance(op, (qrnn.QuantOp, qrnn.QuantDequantOp))]
    return max(weights, default=0), max(acts, default=0)


def alignments(model: onnx.ModelProto) -> list[tuple[str, int, int, float]]:
    """(name, shift, widest multiplier bits, error_bound) of every inexact requantizer of the aligned design."""
    module = apply_pipeline(
        import_model(model),
        [QrnnCanonicalizePass(), QrnnFoldConstantsPass(), QrnnLegalizePrecisionPass(act_impl="lut")],
    )  # keeps them all
    rows = []
    for op in module.walk():
        if not isinstance(op, qrnn.RequantOp):
            continue
        bound = op.attributes["error_bound"]
        assert isinstance(bound, FloatAttr)  # recorded on every requantizer by qrnn-legalize-precision
        if bound.value.data > 0:
            src = op.input.owner
            mults = array_from_dense(src.multipliers).astype(np.int64) if isinstance(src, qrnn.ScaledSumOp) else [1]
            rows.append(
                (
                    op.results[0].name_hint or "?",
                    op.shift.value.data,
                    int(max(abs(int(m)) for m in np.ravel(mults))).bit_length(),
                    bound.value.data,
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", type=Path, help="ONNX models (default: tiny LSTM, fixtures, stock)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--no-emit", action="store_true", help="skip the widest ap_int of the emitted kernel")
    parser.add_argument("--alignment", action="store_true", help="list the inexact alignments of the aligned design")
    args = parser.parse_args()
    print(
        f"{'model':<28} {'variant':<12} {'mvau acc':>8} {'act in':>6} {'thresh.':>7} {'table':>6} {'ap_int':>6} "
        f"{'LUT':>7} {'FF':>6} {'BRAM18':>6} {'DSP':>4}"
    )
    summary = []
    for path in args.models or default_models():
        model = onnx.load(str(path))
        name = path.stem if path.stem != "model" else path.parent.name
        for variant in args.variants:
            module = lower(model, **VARIANTS[variant])
            w = widths(module)
            widest = "-" if args.no_emit else str(widest_ap_int(module))
            if variant == "default" and not args.no_emit:
                summary.append((name, *quantizer_bits(model), int(widest)))
            res = estimate_module(module).total
            print(
                f"{name:<28} {variant:<12} {w['mvau_acc']:>8} {w['act_in']:>6} {w['thresholds']:>7} {w['table']:>6} "
                f"{widest:>6} {res.lut:>7} {res.ff:>6} {res.bram18:>6} {res.dsp:>4}"
            )
        if args.alignment:
            for hint, shift, mult_bits, bound in alignments(model):
                print(f"    alignment %{hint}: shift {shift}, multiplier {mult_bits} bits, error_bound {bound:.3g} LSB")
    if summary:
        print(
            f"\n{'model':<28} {'weights':>7} {'acts':>5} {'ap_int':>6}  <= {CRITERION_BITS} bits (weights, activations <= 8)"
        )
        for name, wb, ab, widest in summary:
            verdict = (
                ("ok" if widest <= CRITERION_BITS else "FAILS") if max(wb, ab) <= 8 else "n/a (> 8-bit quantizers)"
            )
            print(f"{name:<28} {wb:>7} {ab:>5} {widest:>6}  {verdict}")


if __name__ == "__main__":
    main()
