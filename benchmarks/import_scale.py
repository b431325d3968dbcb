"""Import / print / re-parse time of the qrnn IR versus weight count.

Run: python benchmarks/import_scale.py [--sizes 64 128 256 512]
Reports seconds and the ratio to the smallest model, so the growth (should be ~linear in weights) is visible
whatever the machine. Weights are random 4-bit quantized; the model is one LSTM layer with I = H = n.
"""

import argparse
import io
import time

from xdsl.context import Context
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func
from xdsl.parser import Parser
from xdsl.printer import Printer

from lstmc.dialects.qrnn import QRNN
from lstmc.frontend.onnx_import import import_model
from lstmc.testing import LstmSpec, Q, build_lstm


def measure(n: int) -> dict:
    model = build_lstm(LstmSpec(input_size=n, hidden_size=n, seq_len=4, weight=Q(4, True, True, 0.05)))
    t0 = time.perf_counter()
    module = import_model(model)
    t1 = time.perf_counter()
    out = io.StringIO()
    Printer(stream=out).print_op(module)
    t2 = time.perf_counter()
    ctx = Context()
    for dialect in (Builtin, Func, QRNN):
        ctx.load_dialect(dialect)
    Parser(ctx, out.getvalue()).parse_module()
    t3 = time.perf_counter()
    return {
        "n": n,
        "weights": 8 * n * n,
        "import": t1 - t0,
        "print": t2 - t1,
        "parse": t3 - t2,
        "chars": len(out.getvalue()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    args = parser.parse_args()
    rows = [measure(n) for n in args.sizes]
    base = rows[0]
    print(
        f"{'I=H':>5} {'weights':>10} {'import s':>9} {'print s':>8} {'parse s':>8} {'total s':>8} {'x weights':>9} {'x time':>7}"
    )
    for r in rows:
        total = r["import"] + r["print"] + r["parse"]
        base_total = base["import"] + base["print"] + base["parse"]
        print(
            f"{r['n']:>5} {r['weights']:>10} {r['import']:>9.3f} {r['print']:>8.3f} {r['parse']:>8.3f} {total:>8.3f} "
            f"{r['weights'] / base['weights']:>9.1f} {total / base_total:>7.1f}"
        )


if __name__ == "__main__":
    main()
