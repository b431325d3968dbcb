"""The C-simulation twin (lstmc/hls/emit.py): the native-integer copy of the kernel that g++ compiles for
C-simulation must compute exactly what the ap_int kernel Vitis synthesizes computes, and printing it must not
change that kernel.

- The synthesized kernel is the text the emitter printed before the twin existed (`csim_twin=False`), byte
  for byte, between `#if defined(__SYNTHESIS__) || ...` and `#else`. Breaks if the twin's printer leaks into
  the shared printer (a native type, a dropped directive).
- On fixtures, the twin and the ap_int kernel (`-DLSTMC_CSIM_AP_TYPES`) write byte-identical outputs.
- On random straight-line kernels whose result types are deliberately too narrow (every op may overflow and
  wrap, which legalization never produces), in every operation the emitter supports, with mixed signedness,
  1..62-bit types, 124-bit ap intermediate products, narrowing stores and FIFOs, both programs print the same
  values. Breaks on any wrap the twin misses or adds (e.g. deciding from proven values instead of types, a
  sign-extension off by one bit, an unsigned wrap, a product computed in int64 that overflows).
"""

from __future__ import annotations

import re
import subprocess
from io import StringIO

import numpy as np
import onnx
import pytest
from conftest import FIXTURES, ROOT, needs_cxx
from xdsl.dialects.builtin import IndexType, IntegerType, ModuleOp, Signedness
from xdsl.ir import Operation, SSAValue

from lstmc.dense import dense_from_array
from lstmc.dialects import hlscpp
from lstmc.frontend.onnx_import import import_model
from lstmc.hls import project
from lstmc.hls.build import CSIM_FLAGS, build_csim, lower_to_hlscpp, run_csim_on_codes, write_sources
from lstmc.hls.csim import compile_csim
from lstmc.hls.emit import AP_GUARD, emit_header, emit_hls_cpp, value_range
from lstmc.pipeline import apply_pipeline, lower_to_stage

MODELS = [
    FIXTURES / "l1_t64_w2_perchannel_float.onnx",
    FIXTURES / "l2_bidir_w3_po2.onnx",
    FIXTURES / "l1_acc16_float.onnx",
    ROOT / "examples" / "stock" / "model.onnx",
]


def _emit(module: ModuleOp, twin: bool) -> str:
    buf = StringIO()
    emit_hls_cpp(module, buf, header="k.h", csim_twin=twin)
    return buf.getvalue()


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
@pytest.mark.parametrize("pipeline", ["lstm-to-hls", "lstm-to-hls{act-impl=lut}"])
def test_synthesized_kernel_text_is_unchanged(path, pipeline):
    module = import_model(onnx.load(path))
    apply_pipeline(module, pipeline)
    plain, twin = _emit(module, False), _emit(module, True)
    head, functions = plain.split("\n\n", 1)
    assert twin.startswith(head + "\n")
    kernel = twin.split(AP_GUARD + "\n", 1)[1].split("\n#else  // C-simulation", 1)[0]
    assert kernel == "\n" + functions.rstrip("\n")
    native = twin.split("#else  // C-simulation: the native-integer twin\n", 1)[1]
    # no ap type and no hls::stream (the twin's C-simulation parses no Xilinx header), no directive
    assert re.search(r"\bap_u?(int|fixed)\b|\bhls::", native) is None and "#pragma" not in native
    # every recurrence step's MVAU runs as dot products (emit.MvauTwin; a change of qrnn-to-hlscpp's MVAU loop
    # that it no longer recognizes leaves the twin correct but ~4x slower: this notices)
    gates = re.findall(r"\nstatic void \w+_gates\(.*?\n}\n", native, re.S)
    assert gates and all(re.search(r"\+= \(int(32|64)_t\)\w+(\[\w+\])*\[v\d+\] \* ", g) for g in gates)


@needs_cxx
@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_twin_simulates_the_ap_int_kernel_bit_for_bit(path, tmp_path):
    model = onnx.load(path)
    df = lower_to_stage(import_model(model), "dataflow")
    iface = project.kernel_interface(df)
    rng = np.random.default_rng(0)
    inputs = {p.name: rng.standard_normal((16, *p.shape)).astype(np.float32) * 2 for p in iface.inputs}
    codes = iface.quantize_inputs(inputs)
    write_sources(lower_to_hlscpp(df, "k"), iface, tmp_path, "k")
    # the twin and its testbench compile without the Xilinx headers (C-simulation does not parse them)
    subprocess.run(["g++", "-std=c++14", "-fsyntax-only", "k.cpp", "k_tb.cpp"], cwd=tmp_path, check=True)
    ap_kernel = compile_csim(tmp_path, "k", flags=(*CSIM_FLAGS, "-DLSTMC_CSIM_AP_TYPES"))
    twin = build_csim(df, iface, "k")
    assert ap_kernel != twin
    for want, got in zip(run_csim_on_codes(ap_kernel, iface, codes), run_csim_on_codes(twin, iface, codes)):
        assert want.tobytes() == got.tobytes()


# ------------------------------------------------------------------------------------------ random kernels
WIDE = IntegerType(62, Signedness.SIGNED)
BOOL = IntegerType(1)
INDEX = IndexType()
ARITH = ["add", "sub", "mul", "and", "or", "min", "max", "div", "mod", "shr"]
COMPARE = ["ge", "gt", "le", "lt", "eq", "ne"]


def _random_type(rng) -> IntegerType:
    width = int(rng.choice([1, 2, 3, 5, 8, 13, 16, 17, 31, 32, 33, 47, 61, 62]))
    return IntegerType(width, Signedness.UNSIGNED if rng.random() < 0.4 else Signedness.SIGNED)


def _random_value(rng, ty: IntegerType) -> int:
    lo, hi = value_range(ty)
    return int(rng.choice([lo, hi, 0, int(rng.integers(lo, hi, endpoint=True))]))


def _random_kernel(seed: int, n_inputs: int = 6, n_ops: int = 200) -> ModuleOp:
    """A top function reading n_inputs 62-bit values, running n_ops random ops (types chosen so that results
    overflow and wrap often), writing every value back as ap_int<62>."""
    rng = np.random.default_rng(seed)
    fn = hlscpp.FuncOp(
        "k", [hlscpp.StreamType(WIDE), hlscpp.StreamType(WIDE)], ["inp", "outp"], ["axis", "axis"], top=True
    )
    port_in, port_out = fn.body.block.args
    block = fn.body.block
    fifo = hlscpp.StreamOp(_random_type(rng), 2)  # a FIFO inside the kernel: the twin carries int64_t
    block.add_op(fifo)

    def add(op: Operation) -> SSAValue:
        """Append an op of one result; its result."""
        block.add_op(op)
        return op.results[0]

    def const(value, ty):
        return add(hlscpp.ConstOp(int(value), ty))

    values = [add(hlscpp.ReadOp(port_in)) for _ in range(n_inputs)]
    bools = []
    table_ty = _random_type(rng)
    table = np.array([_random_value(rng, table_ty) for _ in range(5)])
    table_arr = add(hlscpp.ArrayOp(hlscpp.MemRefType(table_ty, [5]), "static_const", dense_from_array(table, table_ty)))
    values += [add(hlscpp.LoadOp(table_arr, [const(k, INDEX)])) for k in range(5)]
    for _ in range(n_ops):
        pick = lambda: values[int(rng.integers(len(values)))]  # noqa: E731
        ty, r = _random_type(rng), rng.random()
        if r < 0.55:
            kind = str(rng.choice(ARITH))
            a, b = pick(), pick()
            if kind in ("div", "mod"):  # an odd divisor of the dividend's signedness (the twin's condition)
                assert isinstance(a.type, IntegerType) and isinstance(b.type, IntegerType)
                b_ty = IntegerType(b.type.width.data, a.type.signedness)
                b = add(hlscpp.BinaryOp("or", b, const(1, IntegerType(1, Signedness.UNSIGNED)), b_ty))
            if kind == "shr":
                b = const(rng.integers(0, 63), INDEX)
            values.append(add(hlscpp.BinaryOp(kind, a, b, ty)))
        elif r < 0.65:
            bools.append(add(hlscpp.BinaryOp(str(rng.choice(COMPARE)), pick(), pick(), BOOL)))
            if rng.random() < 0.5:  # a comparison straight into an ap type (true is -1 in ap_int<1>)
                values.append(add(hlscpp.BinaryOp(str(rng.choice(COMPARE)), pick(), pick(), ty)))
        elif r < 0.75 and bools:
            values.append(add(hlscpp.SelectOp(bools[int(rng.integers(len(bools)))], pick(), pick(), ty)))
        elif r < 0.85:
            values.append(add(hlscpp.CastOp(pick(), ty)))
        elif r < 0.9:
            values.append(const(_random_value(rng, ty), ty))
        elif r < 0.95:  # a store into a narrower array element wraps
            arr = add(hlscpp.ArrayOp(hlscpp.MemRefType(ty, [2])))
            block.add_op(hlscpp.StoreOp(pick(), arr, [const(1, INDEX)]))
            values.append(add(hlscpp.LoadOp(arr, [const(1, INDEX)])))
        else:  # through the FIFO
            fifo_type = fifo.result.type
            assert isinstance(fifo_type, hlscpp.StreamType)
            block.add_op(hlscpp.WriteOp(fifo.result, add(hlscpp.CastOp(pick(), fifo_type.element_type))))
            values.append(add(hlscpp.ReadOp(fifo.result)))
    for v in values + bools:
        block.add_op(hlscpp.WriteOp(port_out, v if v.type == WIDE else add(hlscpp.CastOp(v, WIDE))))
    return ModuleOp([fn])


TB = """#include <cstdio>
#include "k.h"
#if defined(LSTMC_CSIM_AP_TYPES)
typedef hls::stream<ap_int<62>> port;
static long long value(const ap_int<62> &v) { return v.to_int64(); }
#else  // the twin's ports
typedef lstmc_tb::stream<int64_t> port;
static long long value(int64_t v) { return v; }
#endif
int main() {
  long long v;
  for (;;) {
    port in, out;
    for (int i = 0; i < N_INPUTS; i++) { if (std::scanf("%lld", &v) != 1) return 0; in.write(v); }
    k(in, out);
    while (!out.empty()) std::printf("%lld\\n", value(out.read()));
  }
}
"""


@needs_cxx
@pytest.mark.parametrize("seed", [1])
def test_twin_wraps_exactly_like_ap_int_on_overflowing_random_kernels(seed, tmp_path):
    module = _random_kernel(seed)
    module.verify()
    text = _emit(module, True)
    assert "#else  // C-simulation" in text  # the twin exists for these ops
    (tmp_path / "k.cpp").write_text(text)
    buf = StringIO()
    emit_header(module, buf, guard="K_H")
    (tmp_path / "k.h").write_text(buf.getvalue())
    (tmp_path / "tb.cpp").write_text(TB.replace("N_INPUTS", "6"))
    rng = np.random.default_rng(seed)
    edges = [0, 1, -1, 2**61 - 1, -(2**61), 2**31, -(2**31) - 1, 255, -128]
    vectors = (
        [rng.choice(edges, 6) for _ in range(20)]
        + [rng.integers(-(2**61), 2**61, 6) for _ in range(200)]
        + [rng.integers(-300, 300, 6) for _ in range(80)]
    )
    stdin = "\n".join(" ".join(str(int(x)) for x in v) for v in vectors)
    outputs = []
    # the twin as C-simulation builds it; the ap_int kernel unoptimized (its semantics, 3x faster to build)
    for flags in (CSIM_FLAGS, ("-std=c++14", "-O0", "-w", "-DLSTMC_CSIM_AP_TYPES")):
        exe = tmp_path / f"tb{len(outputs)}"
        subprocess.run(
            [
                "g++",
                *flags,
                f"-I{project.ap_types_dir()}",
                f"-I{tmp_path}",
                str(tmp_path / "k.cpp"),
                str(tmp_path / "tb.cpp"),
                "-o",
                str(exe),
            ],
            check=True,
        )
        outputs.append(subprocess.run([str(exe)], input=stdin, capture_output=True, text=True, check=True).stdout)
    assert outputs[0].count("\n") == len(vectors) * outputs[0].count("\n") // len(vectors) > len(vectors) * 100
    assert outputs[0] == outputs[1]
