"""Estimated cycles of one recurrence step versus the MVAU bound, over a grid of LSTM sizes and foldings.

Run: python benchmarks/mvau_bound.py [--sizes 10 16 32 64] [--steps 16 ...] [--folds 1 8 16 full 16x4 ...]
                                     [--grid N] [--widths] [--model examples/stock/model.onnx ...] [--axis-bits N]
For each I, H in --sizes (every pair), each T in --steps and each requested folding, a 1-layer quantized LSTM
(lstmc.testing.build_lstm: 4-bit weights, 8-bit io, power-of-two scales) is lowered to the dataflow level and
folded; `lstmc.qor.estimate_module` (what `lstmc estimate` prints) gives the cycles per inference. Printed per
row: the folding used, the estimated cycles per step (cycles per inference / T), the MVAU bound of one step
ceil(4H/PE) * ceil((I+H)/SIMD) and their ratio. x_t streams from the input port, one element per cycle, in
parallel with the step: a step takes at least I + 2 cycles (what bounds the widest foldings), unless the port
packs P codes per beat (--axis-bits N, P = N // 8 for these 8-bit inputs, when P divides I): then
I / P + 2. A folding is `F` (PE = SIMD = F), `PxS` (PE = P, SIMD = S) or `full`; `--grid N` adds every
`PxS` of powers of two with P * S <= N. A requested PE (SIMD) that a unit does not accept becomes the largest
valid value below it; `full` is PE = rows and SIMD = the largest valid value. The summary gives each
folding's ratios and, over the whole grid, the largest ratio at PE * SIMD <= 64 (issue 12's goal: 1.4). Each
row also gives the recurrence's floor per step, which no schedule beats on this datapath (`recurrence_floor`:
h_t needs all of h_{t-1}), and the ratio to max(bound, floor). With --widths, also
the widest ap_int/ap_uint of the emitted kernel (lowering to hlscpp costs a few seconds per model). With
--model, the same per recurrence of each given ONNX model (every MVAU of it folded the same way), and the
model's cycles per inference.
"""

from __future__ import annotations

import argparse
import math
import re
from io import StringIO

import onnx

from lstmc.frontend.onnx_import import import_model
from lstmc.passes.qrnn_set_folding import choose_x_overlap, set_folding
from lstmc.pipeline import STAGE_PASSES, apply_pipeline
from lstmc.ports import mark_axis_bits
from lstmc.qor import estimate_module, mvau_depth, mvau_spec
from lstmc.schedule import step_schedule
from lstmc.testing import LstmSpec, build_lstm
from lstmc.unit_names import mvau_names, recurrence_names


def _largest_at_most(values: list[int], limit: int) -> int:
    return max(v for v in values if v <= limit)


def fold(module, fold: str) -> None:
    """Every MVAU at `fold`: PE = SIMD = F for "F", PE = P and SIMD = S for "PxS" (each clipped to valid
    values), or fully parallel for "full"."""
    for op in mvau_names(module).values():
        spec = mvau_spec(op)
        if fold == "full":
            set_folding(op, spec.rows, spec.simd_values()[-1])
        else:
            pe, _, simd = fold.partition("x")
            pe_limit, simd_limit = int(pe), int(simd or pe)
            set_folding(
                op, _largest_at_most(spec.pe_values(), pe_limit), _largest_at_most(spec.simd_values(), simd_limit)
            )
    choose_x_overlap(module)  # as qrnn-set-folding does after any folding


def recurrence_floor(rec, pe: int, simd: int) -> int:
    """The recurrence's own latency per step on this datapath, which no schedule beats: h_t needs all of
    h_{t-1}, so a step takes at least the h-dependent column folds (B * RF * (CF - XF), XF = the x-only folds
    that may run ahead) plus the MVAU's pipeline depth and the cell's behind its last group."""
    schedule = step_schedule(rec)
    if schedule is None:
        return 0
    mv = schedule.mvau
    x_cols = sum(mv.part_sizes[: schedule.x_parts()])
    h_folds = math.ceil(mv.columns / simd) - x_cols // simd
    return schedule.sequences * math.ceil(mv.rows / pe) * h_folds + mvau_depth(simd) + schedule.depth


def recurrence_rows(module):
    """(name, PE, SIMD, cycles per step, MVAU bound per step, recurrence floor per step) of every recurrence."""
    report = estimate_module(module)
    rows = []
    for name, rec in recurrence_names(module):
        stage = next(s for s in report.stages if s.name == name)
        mvau = next(u for u in report.units if u.kind == "mvau" and u.stage == name)
        assert mvau.spec is not None and mvau.pe is not None and mvau.simd is not None  # an MVAU's folding
        bound = stage.sequences * math.ceil(mvau.spec.rows / mvau.pe) * math.ceil(mvau.spec.cols / mvau.simd)
        floor = recurrence_floor(rec, mvau.pe, mvau.simd)
        rows.append((name, mvau.pe, mvau.simd, stage.cycles / stage.steps, bound, floor))
    return rows, report.cycles


def widest_int(module) -> int:
    from lstmc.hls.build import lower_to_hlscpp
    from lstmc.hls.emit import emit_hls_cpp

    buf = StringIO()
    emit_hls_cpp(lower_to_hlscpp(module, "lstmc_kernel"), buf)
    return max(int(w) for w in re.findall(r"ap_u?int<(\d+)>", buf.getvalue()))


def _summary(ratios: dict[str, list[float]]) -> None:
    for f, rs in ratios.items():
        if rs:
            print(
                f"fold {f:>6}: cycles per step / MVAU bound: min {min(rs):.2f}, geomean "
                f"{math.exp(sum(map(math.log, rs)) / len(rs)):.2f}, max {max(rs):.2f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", type=int, default=[10, 16, 32, 64], help="values of I and of H")
    parser.add_argument("--steps", type=int, nargs="+", default=[16], help="sequence lengths T")
    parser.add_argument("--folds", nargs="*", default=["1", "8", "16", "full"], help="F (PE = SIMD), PxS or full")
    parser.add_argument("--grid", type=int, default=0, help="also every PxS of powers of two with P*S <= N")
    parser.add_argument("--widths", action="store_true", help="also print the widest ap_int of the kernel")
    parser.add_argument("--model", nargs="*", default=[], help="ONNX models to measure per recurrence too")
    parser.add_argument(
        "--axis-bits",
        type=int,
        default=0,
        help="TDATA bits of the ports (`lstmc compile --axis-bits`; 0: a code per beat)",
    )
    args = parser.parse_args()

    def imported(model):
        module = import_model(model)
        mark_axis_bits(module, args.axis_bits)
        return module

    folds = list(args.folds)
    if args.grid:
        powers = [1 << k for k in range(args.grid.bit_length())]
        folds += [f"{p}x{q}" for p in powers for q in powers if p * q <= args.grid]
    head = (
        f"{'I':>3} {'H':>3} {'T':>4} {'fold':>6} {'PE':>4} {'SIMD':>4} {'cyc/step':>9} {'bound':>7} {'ratio':>7} "
        f"{'floor':>6} {'ratio':>6}"
    )
    ratios: dict[str, list[float]] = {f: [] for f in folds}
    worst: tuple[float, str] | None = None  # the largest ratio at PE * SIMD <= 64, and where
    worst_floor: tuple[float, str] | None = None  # the same against max(MVAU bound, recurrence floor)
    if args.sizes:
        print(head + (f" {'widest':>6}" if args.widths else ""))
    for i in args.sizes:
        for h in args.sizes:
            for t in args.steps:
                base = apply_pipeline(
                    imported(build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t))), STAGE_PASSES["dataflow"]
                )
                width = f" {widest_int(base):>6}" if args.widths else ""
                for f in folds:
                    module = base.clone()
                    fold(module, f)
                    ((_, pe, simd, per_step, bound, floor),), _ = recurrence_rows(module)
                    ratio, to_floor = per_step / bound, per_step / max(bound, floor)
                    ratios[f].append(ratio)
                    where = f"I = {i}, H = {h}, T = {t}, PE = {pe}, SIMD = {simd}"
                    if pe * simd <= 64 and (worst is None or ratio > worst[0]):
                        worst = (ratio, where)
                    if pe * simd <= 64 and (worst_floor is None or to_floor > worst_floor[0]):
                        worst_floor = (to_floor, where)
                    print(
                        f"{i:>3} {h:>3} {t:>4} {f:>6} {pe:>4} {simd:>4} {per_step:>9.1f} {bound:>7} {ratio:>7.2f} "
                        f"{floor:>6} {to_floor:>6.2f}" + width
                    )
    if args.sizes:
        print()
        _summary(ratios)
        if worst is not None and worst_floor is not None:
            print(f"largest ratio at PE * SIMD <= 64: {worst[0]:.2f} ({worst[1]})")
            print(
                f"largest ratio to max(MVAU bound, recurrence floor) at PE * SIMD <= 64: {worst_floor[0]:.2f} "
                f"({worst_floor[1]})"
            )
    for path in args.model:
        print(
            f"\n{path}: {'recurrence':<24} {'fold':>6} {'PE':>4} {'SIMD':>4} {'cyc/step':>9} {'bound':>7} "
            f"{'ratio':>7} {'cycles per inference':>21}"
        )
        base = apply_pipeline(imported(onnx.load(path)), STAGE_PASSES["dataflow"])
        for f in folds:
            module = base.clone()
            fold(module, f)
            rows, cycles = recurrence_rows(module)
            for name, pe, simd, per_step, bound, _ in rows:
                print(
                    f"  {name:<{len(path) + 24}} {f:>6} {pe:>4} {simd:>4} {per_step:>9.1f} {bound:>7} "
                    f"{per_step / bound:>7.2f} {cycles:>21}"
                )


if __name__ == "__main__":
    main()
