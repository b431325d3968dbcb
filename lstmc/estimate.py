"""`lstmc estimate MODEL.onnx`: estimated cycles and LUT/FF/BRAM18/DSP per hardware unit, and folding sweeps.

The model is imported, lowered to the dataflow stage (`lstmc.pipeline.STAGE_PASSES["dataflow"]`), folded
by `qrnn-set-folding` (from `--pe/--simd`, `--folding F.json` or `--target-cycles N`; PE = SIMD = 1 by
default) and estimated by `lstmc.qor`. `--sweep` evaluates many foldings: every combination of valid
(PE, SIMD) pairs when there are at most `MAX_SWEEP_POINTS` of them, otherwise the uniform foldings (every
MVAU takes the largest valid PE <= p and SIMD <= s, for every (p, s) of any unit) plus the exact Pareto
front of cycles vs cost (see `lstmc.qor.FoldingSpace.pareto_front`), both bounded. Pareto-optimal points
(no other point has fewer or equal cycles and LUTs, one of them strictly fewer) are marked and plotted
(`--plot`, by default MODEL-pareto.png beside the model). `--breakdown OUT.html|OUT.png` draws every unit's
cycles and LUTs. Utilisation is against `--part`/`--board` (lstmc/parts.py) and the latency at `--clock-ns`
(`--clock-mhz` is a deprecated alias that warns); a design over 100% of any resource gets a one-line warning.
The estimate itself is lstmc.api's `Design.estimate`, which the Python API shares.
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
    from lstmc.cli_options import AXIS_BITS_HELP, SEQ_LEN_HELP, add_folding_options, add_part_options, int_option
    from lstmc.parts import DEFAULT_CLOCK_NS

    p = subparsers.add_parser(
        "estimate",
        help="estimate cycles and FPGA resources; sweep folding choices",
        description="Estimated cycles per inference and LUT/FF/BRAM18/DSP per unit (a documented cost model: "
        "cycles follow the emitted schedule, resources are FINN-R-style closed forms).",
    )
    p.add_argument("model", help="quantized LSTM (.onnx)")
    p.add_argument("--sweep", action="store_true", help="evaluate folding choices and mark the Pareto front")
    add_folding_options(p, folding_default="")
    p.add_argument(
        "--plot",
        metavar="OUT.png",
        help="where --sweep writes its Pareto plot (default: beside the model, MODEL-pareto.png for MODEL.onnx)",
    )
    p.add_argument(
        "--breakdown",
        metavar="OUT.html|OUT.png",
        help="write a per-unit breakdown (cycles and LUTs of every unit): an HTML table or a PNG chart, "
        "by the file's extension",
    )
    p.add_argument("--json", metavar="OUT.json", help="write the estimates (and sweep points) as JSON")
    add_part_options(p)
    clock = p.add_mutually_exclusive_group()
    clock.add_argument(
        "--clock-ns",
        type=float,
        metavar="NS",
        help=f"clock period in ns for the latency (default {DEFAULT_CLOCK_NS:g} = {1000 / DEFAULT_CLOCK_NS:g} MHz)",
    )
    # deprecated: `compile` always took a period; one clock option everywhere (a frequency still works, warns)
    clock.add_argument("--clock-mhz", type=float, help=argparse.SUPPRESS)
    p.add_argument("--seq-len", type=int_option(1), metavar="T", help=SEQ_LEN_HELP)
    p.add_argument("--axis-bits", type=int_option(0), default=0, metavar="N", help=AXIS_BITS_HELP)
    p.set_defaults(func=run)
    return p


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
            uniform.append(
                {
                    n: (
                        _largest_at_most(space.units[n][1].pe_values(), p),
                        _largest_at_most(space.units[n][1].simd_values(), s),
                    )
                    for n in names
                }
            )
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
        lines.append(
            f"  {'*' if pt.pareto else ' ':1} {pt.cycles:>10} {pt.lut:>8} {pt.ff:>8} {pt.bram18:>6} {pt.dsp:>5}  {fold}"
        )
    n_pareto = sum(pt.pareto for pt in points)
    lines.append(f"{len(points)} points, {n_pareto} Pareto-optimal")
    return "\n".join(lines)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise LstmcError("plots need matplotlib (pip install matplotlib)") from e
    return plt


def _save_png(fig, path: str, option: str) -> None:
    """The figure as a PNG at `path`, written atomically (lstmc.project_dir.write_file_atomically)."""
    from lstmc.project_dir import write_file_atomically

    plt = _pyplot()
    try:
        write_file_atomically(path, lambda f: fig.savefig(f, format="png"), option)
    finally:
        plt.close(fig)


def plot_sweep(points: list[SweepPoint], path: str, title: str, option: str = "--plot") -> None:
    """Scatter of all points (cycles vs LUT) with the Pareto front highlighted, as a PNG."""
    plt = _pyplot()
    front = sorted((pt for pt in points if pt.pareto), key=lambda pt: pt.cycles)
    others = [pt for pt in points if not pt.pareto]
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    ax.scatter([pt.cycles for pt in others], [pt.lut for pt in others], s=14, c="0.6", label="folding choices")
    ax.step([pt.cycles for pt in front], [pt.lut for pt in front], where="post", c="tab:red", lw=1.2)
    ax.scatter([pt.cycles for pt in front], [pt.lut for pt in front], s=30, c="tab:red", zorder=3, label="Pareto front")
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
    _save_png(fig, path, option)


# ------------------------------------------------------------------------------------------- breakdown
BREAKDOWN_FORMATS = (".html", ".png")


def _breakdown_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in BREAKDOWN_FORMATS:
        raise LstmcError(f"--breakdown {path}: the file must end in .html (a table) or .png (a chart)")
    return ext


def breakdown_html(report, title: str) -> str:
    """A self-contained HTML page: every unit's cycles per inference and LUTs (with bars relative to the largest),
    FF, BRAM18 and DSP, then the totals. Unit names come from the model: HTML-escaped."""
    from html import escape

    units = report.units
    max_cycles = max((u.cycles for u in units), default=0) or 1
    max_lut = max((u.resources.lut for u in units), default=0) or 1

    def bar(value: int, top: int, colour: str) -> str:
        return (
            f'<div class="bar" style="width:{100.0 * value / top:.1f}%;background:{colour}"></div>'
            f"<span>{value:,}</span>"
        )

    rows = []
    for u in units:
        fold = "" if u.pe is None else f"{u.pe}&times;{u.simd}"
        r = u.resources
        rows.append(
            f"<tr><td>{escape(u.name)}</td><td>{escape(u.kind)}</td><td>{fold}</td>"
            f'<td class="b">{bar(u.cycles, max_cycles, "#4c72b0")}</td>'
            f'<td class="b">{bar(r.lut, max_lut, "#dd8452")}</td>'
            f"<td>{r.ff:,}</td><td>{r.bram18:,}</td><td>{r.dsp:,}</td></tr>"
        )
    t = report.total
    use = t.utilisation(report.part)
    part = report.part
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html><head><meta charset="utf-8">',
            f"<title>{escape(title)}</title>",
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
            "td.b{width:16em;text-align:left}.bar{display:inline-block;height:0.8em;margin-right:6px}</style>",
            "</head><body>",
            f"<h1>{escape(title)}</h1>",
            f"<p>Part {escape(part.name)}{f' ({escape(part.board)})' if part.board else ''}, clock "
            f"{report.clock_mhz:g} MHz: {report.cycles:,} cycles per inference ({report.latency_us:.2f} &micro;s), "
            f"initiation interval {report.initiation_interval:,} cycles. Estimates: cycles follow the emitted "
            "schedule, resources are FINN-R-style closed forms.</p>",
            "<table><tr><th>unit</th><th>kind</th><th>PE&times;SIMD</th><th>cycles per inference</th><th>LUT</th>"
            "<th>FF</th><th>BRAM18</th><th>DSP</th></tr>",
            *rows,
            f"<tr><th>total</th><th></th><th></th><th></th><th>{t.lut:,}</th><th>{t.ff:,}</th><th>{t.bram18:,}</th>"
            f"<th>{t.dsp:,}</th></tr>",
            f"<tr><th>% of the part</th><th></th><th></th><th></th><th>{use['lut']:.1f}%</th><th>{use['ff']:.1f}%</th>"
            f"<th>{use['bram18']:.1f}%</th><th>{use['dsp']:.1f}%</th></tr>",
            "</table></body></html>",
            "",
        ]
    )


def plot_breakdown(report, path: str, title: str, option: str = "--breakdown") -> None:
    """Two horizontal bar charts, one bar per unit: cycles per inference and LUTs."""
    plt = _pyplot()
    units = report.units
    labels = [u.name if len(u.name) <= 48 else u.name[:45] + "..." for u in units]
    height = max(3.0, 0.28 * len(units) + 1.5)
    fig, (ax_c, ax_l) = plt.subplots(1, 2, figsize=(12, height), dpi=110, sharey=True)
    ys = list(range(len(units)))
    ax_c.barh(ys, [u.cycles for u in units], color="tab:blue")
    ax_l.barh(ys, [u.resources.lut for u in units], color="tab:orange")
    ax_c.set_yticks(ys)
    # names from the model are plain text: no mathtext ($...$) interpretation
    ax_c.set_yticklabels(labels, fontsize=8, parse_math=False)
    ax_c.invert_yaxis()
    ax_c.set_xlabel("cycles per inference (estimate)")
    ax_l.set_xlabel("LUTs (estimate)")
    for ax in (ax_c, ax_l):
        ax.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    _save_png(fig, path, option)


def write_breakdown(report, path: str, title: str) -> None:
    from lstmc.project_dir import write_file_atomically

    if _breakdown_format(path) == ".html":
        data = breakdown_html(report, title).encode("utf-8")
        write_file_atomically(path, lambda f: f.write(data), "--breakdown")
    else:
        plot_breakdown(report, path, title)


# -------------------------------------------------------------------------------------------------- run
def _check_output(path: str | None, option: str) -> None:
    """Refuse an output path that cannot be written before the model is even read."""
    if path is None:
        return
    if not path or path.endswith(("/", os.sep)) or os.path.isdir(path):
        raise LstmcError(f"{option} {path!r}: expected a file name")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise LstmcError(f"{option} {path}: directory {os.path.dirname(path) or directory} does not exist")


def default_plot_path(model: str) -> str:
    """Beside the model: MODEL.onnx -> MODEL-pareto.png."""
    root, ext = os.path.splitext(model)
    return (root if ext.lower() == ".onnx" else model) + "-pareto.png"


def run(args) -> int:
    """`lstmc estimate`: a layer over lstmc.api (Design.estimate) plus the sweep, plot and breakdown files."""
    import warnings

    from lstmc.api import FitWarning, check_clock, choose_part, load
    from lstmc.cli_options import report_warnings
    from lstmc.project_dir import write_file_atomically
    from lstmc.qor import FoldingSpace

    modes = [
        m
        for m, on in (
            ("--pe/--simd", args.pe or args.simd),
            ("--folding", args.folding),
            ("--target-cycles", args.target_cycles),
        )
        if on
    ]
    if len(modes) > 1:
        raise LstmcError(
            f"choose one folding mode: give only one of --pe/--simd, --folding or --target-cycles "
            f"(got {' and '.join(modes)})"
        )
    if args.plot and not args.sweep:
        raise LstmcError("--plot needs --sweep")
    part = choose_part(args.part, args.board)
    clock_ns = check_clock(args.clock_ns, args.clock_mhz)
    if args.clock_mhz is not None:
        print(
            f"lstmc: warning: --clock-mhz is deprecated; use --clock-ns {clock_ns:g} (the period in ns)",
            file=sys.stderr,
        )
    plot_path = (args.plot or default_plot_path(args.model)) if args.sweep else None
    for path, option in ((plot_path, "--plot"), (args.breakdown, "--breakdown"), (args.json, "--json")):
        _check_output(path, option)
    if args.breakdown:
        _breakdown_format(args.breakdown)

    design = load(
        args.model,
        seq_len=args.seq_len,
        part=part.name,
        clock_ns=clock_ns,
        pe=args.pe,
        simd=args.simd,
        folding=args.folding,
        target_cycles=args.target_cycles,
        axis_bits=args.axis_bits,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FitWarning)
        report = design.estimate()
    out = sys.stdout
    out.write(report.format_table() + "\n")
    out.flush()
    report_warnings(caught, FitWarning)
    data = report.to_dict()
    data["folding"] = {u.name: {"PE": u.pe, "SIMD": u.simd} for u in report.units if u.kind == "mvau"}
    title = f"{os.path.basename(args.model)} on {part.name}"
    if args.breakdown:
        write_breakdown(report, args.breakdown, title)
        out.write(f"breakdown written to {args.breakdown}\n")
    if args.sweep:
        space = FoldingSpace.from_report(report)
        names = list(space.units)
        points = sweep(space)
        out.write("\n" + format_sweep(points, names) + "\n")
        assert plot_path is not None  # set with --sweep
        plot_sweep(points, plot_path, title)
        out.write(f"plot written to {plot_path}\n")
        data["sweep"] = [
            {
                **{k: v for k, v in asdict(pt).items() if k != "folding"},
                "folding": {n: {"PE": p, "SIMD": s} for n, (p, s) in pt.folding.items()},
            }
            for pt in points
        ]
    if args.json:
        text = (json.dumps(data, indent=2) + "\n").encode("utf-8")
        write_file_atomically(args.json, lambda f: f.write(text), "--json")
    return 0
