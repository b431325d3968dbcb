"""`lstmc estimate MODEL.onnx`: estimated cycles and LUT/FF/BRAM18/DSP per hardware unit, and folding sweeps.

The model is imported, lowered to the dataflow stage (`lstmc.pipeline.STAGE_PASSES["dataflow"]`), folded
by `qrnn-set-folding` (from `--pe/--simd`, `--folding F.json` or `--target-cycles N`; PE = SIMD = 1 by
default) and estimated by `lstmc.qor`. `--sweep` evaluates many foldings: every combination of valid
(PE, SIMD) pairs when there are at most `MAX_SWEEP_POINTS` of them, otherwise the uniform foldings (every
MVAU takes the largest valid PE <= p and SIMD <= s, for every (p, s) of any unit) plus the exact Pareto
front of cycles vs cost (see `lstmc.qor.FoldingSpace.pareto_front`), both bounded. Pareto-optimal points
(no other point has fewer or equal cycles and LUTs, one of them strictly fewer) are marked and plotted.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from dataclasses import asdict, dataclass

from lstmc.errors import LstmcError

MAX_SWEEP_POINTS = 300


def add_parser(subparsers) -> argparse.ArgumentParser:
    from lstmc.qor import DEFAULT_CLOCK_MHZ, DEFAULT_PART, PARTS

    p = subparsers.add_parser(
        "estimate",
        help="estimate cycles and FPGA resources; sweep folding choices",
        description="Estimated cycles per inference and LUT/FF/BRAM18/DSP per unit (a documented cost model: "
                    "cycles follow the emitted schedule, resources are FINN-R-style closed forms).",
    )
    p.add_argument("model", help="quantized LSTM (.onnx)")
    p.add_argument("--sweep", action="store_true", help="evaluate folding choices and mark the Pareto front")
    p.add_argument("--pe", type=int, default=0, help="PE of every MVAU (must divide its output rows)")
    p.add_argument("--simd", type=int, default=0, help="SIMD of every MVAU (must divide its input parts)")
    p.add_argument("--folding", metavar="F.json", default="", help='per-unit folding {"<unit>": {"PE": n, "SIMD": n}}')
    p.add_argument("--target-cycles", type=int, default=0, metavar="N",
                   help="the cheapest folding with at most N cycles per inference")
    p.add_argument("--plot", metavar="OUT.png", help="where --sweep writes its plot (default: <model>-pareto.png)")
    p.add_argument("--json", metavar="OUT.json", help="write the estimates (and sweep points) as JSON")
    p.add_argument("--part", default=DEFAULT_PART.name, choices=sorted(PARTS), help="FPGA part (for utilisation)")
    p.add_argument("--clock-mhz", type=float, default=DEFAULT_CLOCK_MHZ, help="clock for the latency in us")
    p.set_defaults(func=run)
    return p


# --------------------------------------------------------------------------------------------- lowering
def lower_and_fold(model_path: str, pe: int = 0, simd: int = 0, folding: str = "", target_cycles: int = 0):
    """Import, lower to the dataflow stage and fold; returns the module."""
    from xdsl.context import Context
    from xdsl.utils.exceptions import DiagnosticException

    from lstmc.frontend import load_onnx
    from lstmc.frontend.onnx_import import import_model
    from lstmc.passes.qrnn_set_folding import QrnnSetFoldingPass
    from lstmc.pipeline import STAGE_PASSES, apply_pipeline

    module = import_model(load_onnx(model_path))
    apply_pipeline(module, STAGE_PASSES["dataflow"])
    try:
        QrnnSetFoldingPass(pe=pe, simd=simd, config=folding, target_cycles=target_cycles).apply(Context(), module)
        module.verify()
    except DiagnosticException as e:
        raise LstmcError(str(e)) from e
    return module


# ------------------------------------------------------------------------------------------------ sweep
@dataclass
class SweepPoint:
    folding: dict[str, tuple[int, int]]
    cycles: int
    lut: int
    ff: int
    bram18: int
    dsp: int
    pareto: bool = False


def _largest_at_most(values: list[int], limit: int) -> int:
    return max(v for v in values if v <= limit)


def sweep(space, max_points: int = MAX_SWEEP_POINTS) -> list[SweepPoint]:
    """Folding points of a FoldingSpace (bounded by max_points), sorted by cycles, Pareto ones marked."""
    names = list(space.units)
    options = {n: space.units[n][1].foldings() for n in names}
    count = 1
    for n in names:
        count *= len(options[n])
    if count <= max_points:
        foldings = [dict(zip(names, combo)) for combo in itertools.product(*(options[n] for n in names))]
    else:
        pairs = sorted({f for n in names for f in options[n]})
        uniform = []
        for p, s in pairs:
            uniform.append({n: (_largest_at_most(space.units[n][1].pe_values(), p),
                                _largest_at_most(space.units[n][1].simd_values(), s)) for n in names})
        front = [f for _, _, f in space.pareto_front()]
        half = max_points // 2
        foldings = _spread(front, max_points - min(len(uniform), half)) + _spread(uniform, half)
    seen, points = set(), []
    for f in foldings:
        key = tuple(f[n] for n in names)
        if key in seen:
            continue
        seen.add(key)
        cycles, res = space.evaluate(f)
        points.append(SweepPoint(f, cycles, res.lut, res.ff, res.bram18, res.dsp))
    points = points[:max_points]
    mark_pareto(points)
    return sorted(points, key=lambda pt: (pt.cycles, pt.lut))


def _spread(items: list, n: int) -> list:
    """At most n items, evenly spaced, keeping the first and the last."""
    if len(items) <= n:
        return list(items)
    if n <= 1:
        return items[:n]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def mark_pareto(points: list[SweepPoint]) -> None:
    """pareto = no other point has <= cycles and <= LUTs with at least one strictly less."""
    for pt in points:
        pt.pareto = not any(
            q.cycles <= pt.cycles and q.lut <= pt.lut and (q.cycles < pt.cycles or q.lut < pt.lut) for q in points
        )


def format_sweep(points: list[SweepPoint], names: list[str]) -> str:
    lines = ["folding sweep (PExSIMD per unit: " + ", ".join(names) + "); * = Pareto-optimal (cycles vs LUT)"]
    head = f"  {'':1} {'cycles':>10} {'LUT':>8} {'FF':>8} {'BRAM18':>6} {'DSP':>5}  folding"
    lines.append(head)
    for pt in points:
        fold = " ".join(f"{pt.folding[n][0]}x{pt.folding[n][1]}" for n in names)
        lines.append(f"  {'*' if pt.pareto else ' ':1} {pt.cycles:>10} {pt.lut:>8} {pt.ff:>8} {pt.bram18:>6} "
                     f"{pt.dsp:>5}  {fold}")
    n_pareto = sum(pt.pareto for pt in points)
    lines.append(f"{len(points)} points, {n_pareto} Pareto-optimal")
    return "\n".join(lines)


def plot_sweep(points: list[SweepPoint], path: str, title: str) -> None:
    """Scatter of all points (cycles vs LUT) with the Pareto front highlighted, as a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise LstmcError("--sweep plots need matplotlib (pip install matplotlib)") from e
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{path}: directory {directory} does not exist")
    front = sorted((pt for pt in points if pt.pareto), key=lambda pt: pt.cycles)
    others = [pt for pt in points if not pt.pareto]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    ax.scatter([pt.cycles for pt in others], [pt.lut for pt in others], s=14, c="0.6", label="folding choices")
    ax.step([pt.cycles for pt in front], [pt.lut for pt in front], where="post", c="tab:red", lw=1.2)
    ax.scatter([pt.cycles for pt in front], [pt.lut for pt in front], s=30, c="tab:red", zorder=3,
               label="Pareto front")
    xs = [pt.cycles for pt in points]
    ys = [pt.lut for pt in points]
    if xs and max(xs) > 10 * min(xs):
        ax.set_xscale("log")
    if ys and max(ys) > 10 * min(ys):
        ax.set_yscale("log")
    ax.set_xlabel("cycles per inference (estimate)")
    ax.set_ylabel("LUTs (estimate)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


# -------------------------------------------------------------------------------------------------- run
def run(args) -> int:
    from lstmc.qor import PARTS, FoldingSpace, estimate_module

    modes = [m for m, on in (("--pe/--simd", args.pe or args.simd), ("--folding", args.folding),
                             ("--target-cycles", args.target_cycles)) if on]
    if len(modes) > 1:
        raise LstmcError(f"give only one of --pe/--simd, --folding or --target-cycles (got {' and '.join(modes)})")
    if args.plot and not args.sweep:
        raise LstmcError("--plot needs --sweep")
    if args.clock_mhz <= 0:
        raise LstmcError(f"--clock-mhz must be positive, got {args.clock_mhz}")
    if args.json and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise LstmcError(f"{args.json}: directory {os.path.dirname(os.path.abspath(args.json))} does not exist")
    module = lower_and_fold(args.model, args.pe, args.simd, args.folding, args.target_cycles)
    report = estimate_module(module, part=PARTS[args.part], clock_mhz=args.clock_mhz)
    out = sys.stdout
    out.write(report.format_table() + "\n")
    data = report.to_dict()
    data["folding"] = {u.name: {"PE": u.pe, "SIMD": u.simd} for u in report.units if u.kind == "mvau"}
    if args.sweep:
        space = FoldingSpace.from_report(report)
        names = list(space.units)
        points = sweep(space)
        out.write("\n" + format_sweep(points, names) + "\n")
        plot_path = args.plot or os.path.splitext(os.path.basename(args.model))[0] + "-pareto.png"
        plot_sweep(points, plot_path, f"{os.path.basename(args.model)} on {args.part}")
        out.write(f"plot written to {plot_path}\n")
        data["sweep"] = [
            {**{k: v for k, v in asdict(pt).items() if k != "folding"},
             "folding": {n: {"PE": p, "SIMD": s} for n, (p, s) in pt.folding.items()}}
            for pt in points
        ]
    if args.json:
        tmp = args.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, args.json)
    return 0
