"""Mixed-precision sweep of the stock ConvLSTM: accuracy next to estimated latency and resources.

    python examples/stock/sweep.py [--out build/stock] [--configs w8,w6,w4] [--retrain] [--target-cycles N]
                                   [--readme examples/stock/README.md] [--plot examples/stock/sweep.png]
    python examples/stock/sweep.py --folding [--target-cycles N]      # no training: the shipped model

For each named configuration (model.py: weight, activation, sigmoid/tanh and cell-state widths) it trains the
model with train.py (needs torch; skipped when OUT/<config>/metrics.json exists, unless --retrain), then, without
torch, compiles the exported ONNX to the dataflow level and runs lstmc's cost model twice: with every unit
unfolded (PE = SIMD = 1, the smallest design) and with the cheapest folding that meets --target-cycles. It
writes OUT/sweep.json, a PNG (macro-F1 and accuracy against LUTs, latency annotated) and the Markdown table
between the `<!-- sweep -->` markers of the README. Accuracy and macro-F1 are Brevitas' on the whole test split;
the compiled design computes the same logits (evaluate.py checks it stage by stage).

With --folding it trains nothing: it takes the shipped model (model.onnx, the w8 precision) and writes the
Pareto front of its foldings (estimated cycles per inference against LUT, DSP, BRAM18: lstmc's
FoldingSpace.pareto_front, each point re-estimated with its folding applied) between the `<!-- pareto -->`
markers of the README, marking the folding `--target-cycles` chooses.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MARK_BEGIN, MARK_END = "<!-- sweep -->", "<!-- /sweep -->"
PARETO_BEGIN, PARETO_END = "<!-- pareto -->", "<!-- /pareto -->"


def folding_front(model_path: Path, target_cycles: int) -> list[dict]:
    """The shipped model's Pareto-optimal foldings, re-estimated one by one, and the one the budget picks."""
    from lstmc.chain_sim import simulate_report
    from lstmc.frontend import load_onnx
    from lstmc.frontend.onnx_import import import_model
    from lstmc.passes.qrnn_set_folding import choose_folding, choose_x_overlap, set_folding
    from lstmc.passes.qrnn_size_fifos import QrnnSizeFifosPass
    from lstmc.pipeline import lower_to_stage, make_context
    from lstmc.qor import FoldingSpace, estimate_module
    from lstmc.unit_names import mvau_names

    module = lower_to_stage(import_model(load_onnx(str(model_path))), "dataflow")
    chosen = choose_folding(module, target_cycles)
    points = [f for _, _, f in FoldingSpace.from_report(estimate_module(module)).pareto_front()]
    rows = []
    for folding in points + [chosen]:
        trial = module.clone()
        for name, op in mvau_names(trial).items():
            set_folding(op, *folding[name])
        choose_x_overlap(trial)  # as qrnn-set-folding does after any folding
        QrnnSizeFifosPass().apply(make_context(), trial)  # as the pipeline does after the folding
        r = estimate_module(trial)
        simulate_report(trial, r)
        t = r.total
        rows.append(
            {
                "cycles": r.cycles,
                "simulated": r.simulated,
                "latency_us": round(r.latency_us, 2),
                "initiation_interval": r.initiation_interval,
                "lut": t.lut,
                "ff": t.ff,
                "bram18": t.bram18,
                "dsp": t.dsp,
                "chosen": folding == chosen,
                "folding": {k: list(v) for k, v in folding.items()},
            }
        )
    front = [r for r in rows[:-1] if not r["chosen"]] + [rows[-1]]
    return sorted(front, key=lambda r: r["cycles"])


def front_table(rows: list[dict], target: int) -> str:
    names = list(rows[0]["folding"])
    lines = [
        f"| cycles | simulated | latency µs | II cycles | LUT | FF | BRAM18 | DSP | PE×SIMD: {', '.join(n.split('/')[-2] if n.endswith('/gates') else n.split('/')[-1] for n in names)} |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        fold = " ".join(f"{p}×{s}" for p, s in (r["folding"][n] for n in names))
        mark = f" (**chosen for ≤ {target}**)" if r["chosen"] else ""
        lines.append(
            f"| {r['cycles']}{mark} | {r['simulated']} | {r['latency_us']:.1f} | {r['initiation_interval']} | {r['lut']} | {r['ff']} "
            f"| {r['bram18']} | {r['dsp']} | {fold} |"
        )
    return "\n".join(lines)


def estimate(model_path: Path, target_cycles: int | None) -> dict:
    from lstmc.frontend import load_onnx
    from lstmc.frontend.onnx_import import import_model
    from lstmc.pipeline import apply_pipeline, lower_to_stage
    from lstmc.qor import estimate_module

    module = lower_to_stage(import_model(load_onnx(str(model_path))), "dataflow")
    if target_cycles:
        apply_pipeline(module, [f"qrnn-set-folding{{target-cycles={target_cycles}}}", "qrnn-size-fifos"])
    report = estimate_module(module)
    t = report.total
    return {
        "cycles": report.cycles,
        "latency_us": round(report.latency_us, 2),
        "initiation_interval": report.initiation_interval,
        "lut": t.lut,
        "ff": t.ff,
        "bram18": t.bram18,
        "dsp": t.dsp,
    }


def widths(cfg: dict) -> str:
    return (
        f"W{cfg['weight_bits']}/{cfg['lstm_weight_bits']} A{cfg['act_bits']} io{cfg['lstm_io_bits']} "
        f"sig{cfg['lstm_sigmoid_bits']} tanh{cfg['lstm_tanh_bits']} c{cfg['lstm_cell_bits']} "
        f"acc{cfg['lstm_acc_bits']}"
    )


def table(rows: list[dict], target: int) -> str:
    lines = [
        "| config | widths (conv/LSTM weights, acts, LSTM io, sigmoid, tanh, cell, acc) | accuracy | macro-F1 "
        "| unfolded: latency µs | LUT | BRAM18 | DSP "
        f"| folded (≤ {target} cycles): latency µs | LUT | BRAM18 | DSP |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        u, f = r["unfolded"], r["folded"]
        lines.append(
            f"| {r['config']} | {r['widths']} | {r['accuracy']:.4f} | {r['macro_f1']:.4f} | {u['latency_us']:.0f} "
            f"| {u['lut']} | {u['bram18']} | {u['dsp']} | {f['latency_us']:.0f} | {f['lut']} | {f['bram18']} "
            f"| {f['dsp']} |"
        )
    base = rows[0]["baseline"]
    lines.append("")
    lines.append(
        f"Majority-class baseline on the same test split: accuracy {base['test_majority_share']:.4f}, "
        f"macro-F1 {base['macro_f1']:.4f}. Estimates at 200 MHz on {rows[0]['part']}; "
        "resources are FINN-R-style closed forms, not synthesis results."
    )
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for key, marker, offset in (("unfolded", "o", (-6, 8)), ("folded", "s", (6, -14))):
        xs = [r[key]["lut"] for r in rows]
        ys = [r["macro_f1"] for r in rows]
        ax.scatter(xs, ys, marker=marker, label=f"{key} design")
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(
                f"{r['config']}: {r[key]['latency_us']:.0f} µs",
                (x, y),
                textcoords="offset points",
                xytext=offset,
                fontsize=8,
                ha="right" if offset[0] < 0 else "left",
            )
    ax.margins(x=0.15, y=0.25)
    ax.set_xlabel("estimated LUTs")
    ax.set_ylabel("macro-F1 on the test split")
    ax.set_title("Stock ConvLSTM: mixed precision vs. estimated cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def update_readme(path: Path, text: str, begin: str = MARK_BEGIN, end: str = MARK_END) -> None:
    src = path.read_text()
    if begin not in src or end not in src:
        raise SystemExit(f"error: {path} has no {begin} ... {end} markers")
    head, rest = src.split(begin, 1)
    _, tail = rest.split(end, 1)
    path.write_text(f"{head}{begin}\n{text}\n{end}{tail}")


def main(argv=None) -> int:
    assert __doc__ is not None
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "build" / "stock"))
    ap.add_argument("--configs", default="w8,w6,w4")
    ap.add_argument("--retrain", action="store_true")
    ap.add_argument("--target-cycles", type=int, default=20_000)  # issue 12: 100 µs at 200 MHz
    ap.add_argument("--readme", default=str(HERE / "README.md"))
    ap.add_argument("--plot", default=str(HERE / "sweep.png"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--folding", action="store_true", help="no training: the shipped model's folding Pareto front")
    args = ap.parse_args(argv)
    if args.folding:
        rows = folding_front(HERE / "model.onnx", args.target_cycles)
        text = front_table(rows, args.target_cycles)
        print(text)
        update_readme(Path(args.readme), text, PARETO_BEGIN, PARETO_END)
        print(f"wrote the folding front in {args.readme}")
        return 0
    out = Path(args.out)
    rows = []
    for name in [c for c in args.configs.split(",") if c]:
        run = out / name
        if args.retrain or not (run / "metrics.json").exists():
            cmd = [
                sys.executable,
                str(HERE / "train.py"),
                "--out",
                str(run),
                "--config",
                name,
                "--epochs",
                str(args.epochs),
            ]
            print("$", " ".join(cmd), flush=True)
            if subprocess.call(cmd) != 0:
                print(f"error: training {name} failed", file=sys.stderr)
                return 1
        metrics = json.loads((run / "metrics.json").read_text())
        from lstmc.parts import DEFAULT_PART

        rows.append(
            {
                "config": name,
                "widths": widths(metrics["config"]),
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "baseline": metrics["majority_baseline"],
                "part": DEFAULT_PART.name,
                "unfolded": estimate(run / "model.onnx", None),
                "folded": estimate(run / "model.onnx", args.target_cycles),
            }
        )
        print(
            f"{name}: accuracy {rows[-1]['accuracy']:.4f}, macro-F1 {rows[-1]['macro_f1']:.4f}, "
            f"unfolded {rows[-1]['unfolded']}, folded {rows[-1]['folded']}",
            flush=True,
        )
    (out / "sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    text = table(rows, args.target_cycles)
    print(text)
    plot(rows, Path(args.plot))
    update_readme(Path(args.readme), text)
    print(f"wrote {out / 'sweep.json'}, {args.plot}, the table in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
