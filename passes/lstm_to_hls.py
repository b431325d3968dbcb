"""lstm-to-hls: the named pipeline from imported qrnn IR to printable hlscpp IR.

It is exactly this list (tested against it in lit_tests/pipeline/lstm-to-hls.test):
  qrnn-canonicalize, qrnn-fold-constants, qrnn-legalize-precision{act-impl}, qrnn-to-dataflow,
  qrnn-set-folding{pe simd config target-cycles} (only when a folding option is given), qrnn-size-fifos,
  qrnn-to-hlscpp{kernel max-seq-len axis-bits}, hlscpp-prepare-emission

Options (`lstmc-opt -p 'lstm-to-hls{pe=4 simd=2 act-impl=lut}'`), each forwarded to the pass named and equal to
the `lstmc compile` option of the same name:
  pe=N             PE (output rows in parallel) of every MVAU; must divide its rows (qrnn-set-folding). 0: as is
  simd=N           SIMD (input columns in parallel) of every MVAU; must divide its columns. 0: as is
  config=F.json    per-unit folding {"<unit>": {"PE": n, "SIMD": n}} (qrnn-set-folding; `--folding`)
  target-cycles=N  the cheapest folding within N cycles per inference (qrnn-set-folding)
  kernel=NAME      the C++ name of the kernel's top function, a plain identifier (qrnn-to-hlscpp; `--kernel-name`)
  max-seq-len=N    the kernel takes T at run time (an `int seq_len` port, 1 <= T <= N); the module must have been
                   imported at T = N (`lstmc-opt M.onnx --seq-len N`) (qrnn-to-hlscpp; `--max-seq-len`)
  axis-bits=N      every port an N-bit AXI4-Stream (a multiple of 8, 8..1024) packing N // b codes of b bits per
                   beat; 0: one code per beat. TLAST ends each inference (qrnn-to-hlscpp; `--axis-bits`)
  threshold-input=aligned|accumulator
                   where thresholds compare: on the aligned fixed-point sum, or on the MVAU's raw
                   accumulator with scale, bias and activation absorbed exactly where that is cheaper
                   (qrnn-legalize-precision; `--threshold-input`)
  act-impl=threshold|lut|auto
                   sigmoid/tanh as threshold comparisons on the accumulator, as lookup tables, or whichever is
                   cheaper (qrnn-legalize-precision)
An option not given takes the default of the pass it goes to.
Only one folding mode (pe/simd, config, target-cycles) at a time; without any, every MVAU keeps PE = SIMD = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects import func
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from lstmc.passes.hlscpp_prepare_emission import HlscppPrepareEmissionPass
from lstmc.passes.qrnn_canonicalize import QrnnCanonicalizePass
from lstmc.passes.qrnn_fold_constants import QrnnFoldConstantsPass
from lstmc.passes.qrnn_legalize_precision import QrnnLegalizePrecisionPass
from lstmc.passes.qrnn_set_folding import QrnnSetFoldingPass
from lstmc.passes.qrnn_size_fifos import QrnnSizeFifosPass
from lstmc.passes.qrnn_to_dataflow import QrnnToDataflowPass
from lstmc.passes.qrnn_to_hlscpp import QrnnToHlscppPass
from lstmc.ports import check_axis_bits, mark_axis_bits

# An option left out means the default of the pass it goes to (read from that pass, never restated), so the
# named pipeline without options is the explicit list without options.
_LEGALIZE, _TO_HLSCPP = QrnnLegalizePrecisionPass, QrnnToHlscppPass


def pipeline_passes(
    act_impl: str = _LEGALIZE.act_impl,
    pe: int = 0,
    simd: int = 0,
    config: str = "",
    target_cycles: int = 0,
    kernel: str = _TO_HLSCPP.kernel,
    max_seq_len: int = _TO_HLSCPP.max_seq_len,
    threshold_input: str = _LEGALIZE.threshold_input,
    axis_bits: int = _TO_HLSCPP.axis_bits,
) -> list[ModulePass]:
    """The one pass list of lstmc, from imported qrnn IR to printable hlscpp IR (see the module docstring)."""
    passes: list[ModulePass] = [
        QrnnCanonicalizePass(),
        QrnnFoldConstantsPass(),
        QrnnLegalizePrecisionPass(act_impl=act_impl, threshold_input=threshold_input),
        QrnnToDataflowPass(),
    ]
    if pe or simd or config or target_cycles:
        passes.append(QrnnSetFoldingPass(pe=pe, simd=simd, config=config, target_cycles=target_cycles))
    passes += [
        QrnnSizeFifosPass(),
        QrnnToHlscppPass(kernel=kernel, max_seq_len=max_seq_len, axis_bits=axis_bits),
        HlscppPrepareEmissionPass(),
    ]
    return passes


# The executable stages, in order; each is a cut point in the one list of `pipeline_passes` (`stage_ends`).
STAGES = ("qrnn", "integer", "dataflow", "hlscpp")


def stage_ends(passes: list[ModulePass]) -> dict[str, int]:
    """Where each stage ends in `passes`: qrnn (nothing run), integer (through legalization), dataflow (through
    folding, before the C++ lowering), hlscpp (all of it, printable)."""
    integer = next(i for i, p in enumerate(passes) if isinstance(p, QrnnLegalizePrecisionPass)) + 1
    hls = next(i for i, p in enumerate(passes) if isinstance(p, QrnnToHlscppPass))
    return {"qrnn": 0, "integer": integer, "dataflow": hls, "hlscpp": len(passes)}


def passes_between(start: str, stop: str, **options) -> list[ModulePass]:
    """The slice of the one list (built with `options`, the arguments of `pipeline_passes`) that takes a module
    from stage `start` to stage `stop`."""
    passes = pipeline_passes(**options)
    ends = stage_ends(passes)
    return passes[ends[start] : ends[stop]]


def pipeline_stages(**options) -> list[tuple[str, list[ModulePass]]]:
    """The same list (built with `options`, the arguments of `pipeline_passes`) cut at the executable stages:
    (stage, passes from the previous stage), in order: integer (through legalization), dataflow (through
    folding), hlscpp (printable)."""
    passes = pipeline_passes(**options)
    ends = stage_ends(passes)
    return [(stage, passes[ends[prev] : ends[stage]]) for prev, stage in zip(STAGES, STAGES[1:])]


@dataclass(frozen=True)
class LstmToHlsPass(ModulePass):
    name = "lstm-to-hls"

    act_impl: str = _LEGALIZE.act_impl
    pe: int = 0
    simd: int = 0
    config: str = ""
    target_cycles: int = 0
    kernel: str = _TO_HLSCPP.kernel
    max_seq_len: int = _TO_HLSCPP.max_seq_len
    threshold_input: str = _LEGALIZE.threshold_input
    axis_bits: int = _TO_HLSCPP.axis_bits

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.axis_bits and any(isinstance(f, func.FuncOp) for f in op.ops):
            # before qrnn-set-folding: the folding search counts the ports' readers at the packed width
            check_axis_bits(self.axis_bits, "axis-bits")
            mark_axis_bits(op, self.axis_bits)
        for p in pipeline_passes(
            self.act_impl,
            self.pe,
            self.simd,
            self.config,
            self.target_cycles,
            self.kernel,
            self.max_seq_len,
            self.threshold_input,
            self.axis_bits,
        ):
            p.apply(ctx, op)
