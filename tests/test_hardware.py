"""Properties of the hardware levels: `integer`, `dataflow` and `csim` compute the same codes, and the emitted
kernel is synthesizable C++.

- Bit identity: on every committed fixture and on random models the fixtures do not cover (1-8 inputs and
  hidden units, 1-2 layers, uni- or bidirectional, 2-8 bit quantizers, power-of-two or float scales, per-channel
  weights, QCDQ or QONNX Quant, threshold or LUT activations, folded MVAUs with PE/SIMD > 1) the outputs of the
  three stages are equal element for element (np.array_equal, not a tolerance). Inputs that break it: anything
  that makes one level compute a different integer — a mis-stacked weight row, a wrong per-part multiplier,
  an MVAU partial sum typed too narrow in C++ (wraps around), a mis-indexed reverse-direction time step or a
  PE/SIMD loop that skips or repeats a column. Inputs are standard-normal X, so the io quantizer saturates
  often (|x| > 1 at the default scales), which is where narrow accumulators break.
- Structure of the dataflow IR: exactly one `dataflow.mvau` per `qrnn.recurrence`, no `qrnn.imatmul` left.
- Synthesizability of the emitted kernel (grep of the .cpp): no `new`, `malloc`/`free`, nothing from `std::`
  (containers, strings), every array declared with literal sizes, every `for` loop with literal bounds and step.

The C++ parts need g++ and hls4ml's ap_types headers; they are skipped without a compiler. Every g++ run costs
seconds (ap_int headers), so the csim checks compile their kernels in a small thread pool.
"""

from __future__ import annotations

import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import numpy as np
import onnx
import pytest
from conftest import HAVE_CXX, _ap_types_available, fixture_models, needs_ap_types, needs_cxx  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstmc.dialects import dataflow, qrnn
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.pipeline import apply_pipeline
from lstmc.stages import run_stage
from lstmc.testing import LstmSpec, Q, build_lstm

N_SEQ = 16
POOL = 2  # concurrent g++ runs


def _inputs(model: onnx.ModelProto, seed: int, count: int = N_SEQ) -> dict[str, np.ndarray]:
    from lstmc.cli import random_inputs

    return random_inputs(model, count, seed)


def _assert_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray], what: str) -> None:
    assert set(a) == set(b), what
    for k in a:
        assert a[k].shape == b[k].shape, f"{what}: output {k} shape {a[k].shape} vs {b[k].shape}"
        bad = int(np.count_nonzero(a[k] != b[k]))
        assert bad == 0, f"{what}: output {k}: {bad} of {a[k].size} elements differ"


def check_pooled(run, jobs) -> None:
    """`run(job)` for every job, POOL at a time (g++ builds dominate): each returns (what, want, got) triples
    whose outputs must be identical."""
    with ThreadPoolExecutor(POOL) as pool:
        for results in pool.map(run, jobs):
            for what, want, got in results:
                _assert_identical(want, got, what)


def check_csim_jobs(jobs) -> None:
    """For each (name, integer module, dataflow module, inputs): dataflow and C-simulation equal the integer
    stage bit for bit."""
    from lstmc.hls.build import csim_stage

    def run(job):
        name, integer, df, x = job
        want = run_function(integer, x)
        return [
            (f"{name}: dataflow vs integer", want, run_function(df, x)),
            (f"{name}: csim vs integer", want, csim_stage(df, x)),
        ]

    check_pooled(run, jobs)


# ---------------------------------------------------------------------------------------------- lowering
def lower(model: onnx.ModelProto, act_impl: str = "threshold", folding: str = ""):
    """(integer module, dataflow module) of a model, with the activation implementation and folding given."""
    module = import_model(model)
    apply_pipeline(
        module, ["qrnn-canonicalize", "qrnn-fold-constants", f"qrnn-legalize-precision{{act-impl={act_impl}}}"]
    )
    integer = module.clone()
    apply_pipeline(module, ["qrnn-to-dataflow"] + ([folding] if folding else []))
    return integer, module


def check_dataflow_structure(module) -> None:
    recs = [op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp)]
    assert recs, "no recurrence in the dataflow IR"
    for rec in recs:
        mvaus = [op for op in rec.walk() if isinstance(op, dataflow.MVAUOp)]
        assert len(mvaus) == 1, f"recurrence has {len(mvaus)} dataflow.mvau, expected exactly 1"
    leftovers = [op.name for op in module.walk() if isinstance(op, qrnn.IMatMulOp)]
    assert not leftovers, f"{len(leftovers)} qrnn.imatmul left after qrnn-to-dataflow"
    outside = [
        op
        for op in module.walk()
        if isinstance(op, dataflow.MVAUOp) and not isinstance(op.parent_op(), qrnn.RecurrenceOp)
    ]
    assert not outside


def kernel_source(dataflow_module, kernel: str = "lstmc_kernel") -> str:
    from lstmc.hls.build import lower_to_hlscpp
    from lstmc.hls.emit import emit_hls_cpp

    buf = StringIO()
    emit_hls_cpp(lower_to_hlscpp(dataflow_module, kernel), buf)
    return buf.getvalue()


_DECL = re.compile(r"(?:\bap_u?int<\d+>|\bap_u?fixed<[^>]*>|\bbool|\bint)\s+&?(\w+)((?:\[[^\]]*\])+)")
_FOR = re.compile(r"\bfor\s*\(([^)]*)\)")
_FOR_CONST = re.compile(r"int (\w+) = -?\d+; \1 < -?\d+; (?:\1\+\+|\1 \+= \d+)")
_FOR_BOUNDED = re.compile(r"int (\w+) = -?\d+; \1 < \w+; (?:\1\+\+|\1 \+= \d+)")  # a run-time bound
_TRIPCOUNT = re.compile(r"\s*\{\s*#pragma HLS LOOP_TRIPCOUNT min=\d+ max=\d+\n")


def check_synthesizable(src: str) -> None:
    """The kernel Vitis synthesizes (not the C-simulation twin after #else, lstmc/hls/emit.py) has static sizes
    and no heap or STL, and every loop a constant trip count, or a run-time bound with its largest trip count
    in a LOOP_TRIPCOUNT pragma (an x-overlapped MVAU runs longer at step 0)."""
    from lstmc.hls.emit import AP_GUARD

    if AP_GUARD in src:
        head, rest = src.split(AP_GUARD, 1)
        src = head + rest.split("\n#else  // C-simulation", 1)[0]
    code = re.sub(r"//[^\n]*", "", src)
    for bad in (r"\bnew\b", r"\bmalloc\b", r"\bcalloc\b", r"\bfree\s*\(", r"\bdelete\b", r"std::"):
        assert not re.search(bad, code), f"kernel uses {bad}"
    decls = _DECL.findall(code)
    assert decls, "no array declarations found"
    for name, dims in decls:
        sizes = re.findall(r"\[([^\]]*)\]", dims)
        assert all(re.fullmatch(r"\d+", s.strip()) for s in sizes), f"array {name}{dims} has a non-literal size"
    loops = list(_FOR.finditer(code))
    assert loops, "no loops found"
    for loop in loops:
        header = loop.group(1).strip()
        bounded = _FOR_BOUNDED.fullmatch(header) and _TRIPCOUNT.match(code, loop.end())
        assert _FOR_CONST.fullmatch(header) or bounded, f"loop 'for ({header})' has no constant trip count"


def check_loop_trip_counts_in_ir(dataflow_module) -> None:
    """Every hlscpp.for has integer-literal bounds (properties) and a positive trip count."""
    from lstmc.dialects import hlscpp
    from lstmc.hls.build import lower_to_hlscpp

    hls = lower_to_hlscpp(dataflow_module, "lstmc_kernel")
    loops = [op for op in hls.walk() if isinstance(op, hlscpp.ForOp)]
    assert loops
    for op in loops:
        assert op.trip_count >= 1, f"loop with trip count {op.trip_count}"


# ---------------------------------------------------------------------------------------------- fixtures
FIXTURES = fixture_models()


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_fixture_integer_equals_dataflow_and_structure(path):
    """integer == dataflow bit for bit on each fixture; one MVAU per recurrence; a synthesizable kernel."""
    model = onnx.load(path)
    x = _inputs(model, seed=1)
    _assert_identical(
        run_stage("integer", model, x), run_stage("dataflow", model, x), f"{path.name} integer vs dataflow"
    )
    _, df = lower(model)
    check_dataflow_structure(df)
    check_synthesizable(kernel_source(df))
    check_loop_trip_counts_in_ir(df)


@needs_cxx
@needs_ap_types
def test_fixtures_csim_equals_integer():
    """csim (g++ on the emitted kernel) == integer bit for bit on every fixture, 16 random sequences each."""
    jobs = []
    for path in FIXTURES:
        model = onnx.load(path)
        jobs.append((path.name, model, _inputs(model, seed=2)))

    def run(job):
        name, model, x = job
        return name, run_stage("integer", model, x), run_stage("csim", model, x)

    with ThreadPoolExecutor(POOL) as pool:
        for name, want, got in pool.map(run, jobs):
            _assert_identical(want, got, f"{name} csim vs integer")


# ---------------------------------------------------------------------------------------------- random models
def _scale(rng, po2: bool, magnitude: float, qmax: int) -> float:
    ideal = magnitude / max(qmax, 1)
    if po2:
        return float(2.0 ** round(np.log2(ideal)))
    return float(np.float32(ideal * rng.uniform(0.55, 1.8)))


def _q(rng, po2: bool, magnitude: float, bits: int, signed: bool, narrow: bool = False) -> Q:
    q = Q(bits, signed, narrow, 0.0, 0)
    q.scale = _scale(rng, po2, magnitude, q.qrange[1])
    return q


def random_spec(seed: int, **force) -> LstmSpec:
    """A random small quantized LSTM; `force` pins any LstmSpec field or the knobs po2/bits."""
    rng = np.random.default_rng(seed)
    force = dict(force)
    po2 = force.pop("po2", bool(rng.integers(2)))
    bits = lambda lo=2: int(rng.integers(lo, 9))  # noqa: E731
    spec = LstmSpec(
        input_size=int(rng.integers(1, 9)),
        hidden_size=int(rng.integers(1, 9)),
        seq_len=int(rng.integers(1, 9)),
        num_layers=int(rng.integers(1, 3)),
        bidirectional=bool(rng.integers(2)),
        weight=_q(rng, po2, 1.2, bits(), True, narrow=bool(rng.integers(2))),
        io=_q(rng, po2, 1.0, bits(3), True),
        acc=_q(rng, po2, float(rng.choice([2.0, 6.0])), bits(3), True),
        sigmoid=_q(rng, po2, 1.0, bits(), False),
        tanh=_q(rng, po2, 1.0, bits(), True),
        cell=_q(rng, po2, 2.0, bits(3), True),
        per_channel_weights=(not po2) and bool(rng.integers(2)),
        quant_format=str(rng.choice(["qcdq", "quant"])),
        seed=seed,
    )
    for k, v in force.items():
        setattr(spec, k, v)
    return spec


@st.composite
def unseen_models(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    act = draw(st.sampled_from(["threshold", "lut"]))
    return seed, act


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(unseen_models())
def test_random_models_integer_equals_dataflow(case):
    """integer == dataflow bit for bit on random unseen models, and the dataflow IR / kernel structure holds."""
    seed, act = case
    spec = random_spec(seed)
    model = build_lstm(spec)
    integer, df = lower(model, act_impl=act)
    x = _inputs(model, seed)
    _assert_identical(run_function(integer, x), run_function(df, x), f"{spec} act={act}: integer vs dataflow")
    check_dataflow_structure(df)
    check_synthesizable(kernel_source(df))


def _folding_for(spec: LstmSpec, pe: int, simd: int) -> str:
    """pe/simd if they divide every MVAU of the model (rows 4H; columns I + H, and D*H + H above the first
    layer), else ''."""
    h, d = spec.hidden_size, 2 if spec.bidirectional else 1
    columns = [spec.input_size + h] + ([d * h + h] if spec.num_layers > 1 else [])
    if (4 * h) % pe or any(c % simd for c in columns):
        return ""
    return f"qrnn-set-folding{{pe={pe} simd={simd}}}"


# Each case: (seed, act_impl, forced spec fields, (pe, simd) or None). Together they cover float and po2
# scales, per-channel weights, QONNX Quant, LUT activations, two bidirectional layers and folding.
CSIM_CASES = [
    (11, "threshold", dict(po2=True, quant_format="qcdq", num_layers=2, bidirectional=True), None),
    (12, "lut", dict(po2=False, per_channel_weights=True, quant_format="quant"), None),
    (
        13,
        "threshold",
        dict(po2=False, input_size=4, hidden_size=6, num_layers=2, bidirectional=True, weight=Q(2, True, True, 0.5)),
        (2, 2),
    ),
    (
        15,
        "lut",
        dict(
            po2=True,
            input_size=3,
            hidden_size=6,
            quant_format="quant",
            weight=Q(8, True, False, 2**-6),
            io=Q(8, True, False, 2**-6),
        ),
        (4, 3),
    ),
]


@needs_cxx
@needs_ap_types
def test_random_models_csim_equals_integer():
    """csim == integer == dataflow on random unseen models, some with folded MVAUs (PE/SIMD > 1).

    Wide weights and io (case 15: 8-bit x 8-bit, PE=4 SIMD=3) are the inputs where a too narrow C++ partial
    sum or a skipped SIMD lane would show.
    """
    jobs = []
    for seed, act, force, fold in CSIM_CASES:
        spec = random_spec(seed, **force)
        folding = _folding_for(spec, *fold) if fold else ""
        assert bool(folding) == bool(fold), f"case {seed}: folding {fold} does not divide the model"
        model = build_lstm(spec)
        integer, df = lower(model, act_impl=act, folding=folding)
        if fold:
            pes = {(op.pe.value.data, op.simd.value.data) for op in df.walk() if isinstance(op, dataflow.MVAUOp)}
            assert pes == {fold}, pes
        jobs.append((f"seed={seed} act={act} fold={fold} spec={spec}", integer, df, _inputs(model, seed)))
    check_csim_jobs(jobs)


def test_folded_kernel_partitions_weights():
    """With PE/SIMD > 1 the weight array is partitioned cyclically by SIMD (dim 1) and PE (dim 2), the MVAU
    column loop is pipelined at II=1 and the PE x SIMD multiply-accumulates are unrolled."""
    spec = random_spec(13, **CSIM_CASES[2][2])
    _, df = lower(build_lstm(spec), folding=_folding_for(spec, 2, 2))
    src = kernel_source(df)
    assert re.search(r"#pragma HLS ARRAY_PARTITION variable=weights\w* type=cyclic factor=2 dim=1", src)
    assert re.search(r"#pragma HLS ARRAY_PARTITION variable=weights\w* type=cyclic factor=2 dim=2", src)
    # (a run-time bound and its LOOP_TRIPCOUNT where the step is x-overlapped: step 0 runs longer)
    pipelined = r"mvau\w*: for \(int \w+ = 0; \w+ < \w+; \w+\+\+\) \{\n(?:\s*#pragma HLS LOOP_TRIPCOUNT .*\n)?"
    assert re.search(pipelined + r"\s*#pragma HLS PIPELINE II=1", src)
    check_synthesizable(src)


REQUANT_WIDER_CLAMP = """
func.func @main(%X: tensor<3x2xf32>) -> tensor<3x2xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s6, scale = 1.0, zp = 0> : tensor<3x2xf32> -> tensor<3x2xsi6>
  %h0 = qrnn.constant dense<0> : tensor<2xsi7>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi7>, tensor<3x2xsi6>) -> (tensor<2xsi7>, tensor<3x2xsi7>) {
  ^bb0(%h: tensor<2xsi7>, %xt: tensor<2xsi6>):
    %r = qrnn.requant %xt shift(0) clamp(-64, 63) rounding("half_even") : tensor<2xsi6> -> tensor<2xsi7>
    qrnn.yield %r, %r : tensor<2xsi7>, tensor<2xsi7>
  }
  %y = qrnn.dequantize %ys by <s7, scale = 1.0, zp = 0> : tensor<3x2xsi7> -> tensor<3x2xf32>
  func.return %y : tensor<3x2xf32>
}
"""


def _emits_like_the_interpreter(text: str, x: dict, what: str) -> dict:
    """The module `text` lowers to synthesizable C++ whose C-simulation (with a compiler and the ap_types
    headers) equals the interpreter on `x`; returns the interpreter's outputs."""
    from xdsl.parser import Parser

    from lstmc.hls.build import lower_to_hlscpp
    from lstmc.pipeline import make_context

    module = Parser(make_context(), text).parse_module()
    module.verify()
    want = run_function(module, x)
    assert lower_to_hlscpp(module, "lstmc_kernel") is not None
    check_synthesizable(kernel_source(module))
    if HAVE_CXX and _ap_types_available():
        from lstmc.hls.build import csim_stage

        _assert_identical(want, csim_stage(module, x), f"{what}: csim vs integer")
    return want


def test_requant_clamp_wider_than_input_emits():
    """A requant whose clamp range is wider than its input type (the clamp is a no-op) lowers to C++."""
    x = {"X": np.array([[[-40.0, 40.0], [1.0, -1.0], [31.0, -32.0]]], np.float32)}
    _emits_like_the_interpreter(REQUANT_WIDER_CLAMP, x, "requant no-op clamp")


REQUANT_SHIFT_AS_WIDE_AS_INPUT = """
func.func @main(%X: tensor<4x2xf32>) -> tensor<4x2xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s10, scale = 1.0, zp = 0> : tensor<4x2xf32> -> tensor<4x2xsi10>
  %h0 = qrnn.constant dense<0> : tensor<2xsi3>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi3>, tensor<4x2xsi10>) -> (tensor<2xsi3>, tensor<4x2xsi3>) {
  ^bb0(%h: tensor<2xsi3>, %xt: tensor<2xsi10>):
    %r = qrnn.requant %xt shift(SHIFT) clamp(-4, 3) rounding("MODE") : tensor<2xsi10> -> tensor<2xsi3>
    qrnn.yield %r, %r : tensor<2xsi3>, tensor<2xsi3>
  }
  %y = qrnn.dequantize %ys by <s3, scale = 1.0, zp = 0> : tensor<4x2xsi3> -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}
"""


@pytest.mark.parametrize("shift, mode", [(10, "half_even"), (11, "half_up"), (10, "floor"), (9, "ceil")])
def test_requant_shift_as_wide_as_its_input_emits(shift, mode):
    """A requant shifting by at least its input's width (an accumulator that interval analysis narrowed, e.g.
    of all-zero weights, under a large scale ratio) lowers to C++ and rounds like the interpreter: the mask
    and half of the shift do not fit the input's type, so the rounding works in a wider one."""
    text = REQUANT_SHIFT_AS_WIDE_AS_INPUT.replace("SHIFT", str(shift)).replace("MODE", mode)
    x = {"X": np.array([[[-512.0, 511.0], [-256.0, 256.0], [-1.0, 1.0], [-300.0, 0.0]]], np.float32)}
    _emits_like_the_interpreter(text, x, f"requant shift({shift}) of si10")


THRESHOLD_TO_ONE_BIT = """
func.func @main(%X: tensor<4x2xf32>) -> tensor<4x2xf32> attributes {lstmc.input_names = ["X"], lstmc.output_names = ["Y"]} {
  %x = qrnn.quantize %X by <s6, scale = 1.0, zp = 0> : tensor<4x2xf32> -> tensor<4x2xsi6>
  %h0 = qrnn.constant dense<0> : tensor<2xsi1>
  %hT, %ys = qrnn.recurrence(%h0) scan(%x) directions [forward] -> [forward] : (tensor<2xsi1>, tensor<4x2xsi6>) -> (tensor<2xsi1>, tensor<4x2xsi1>) {
  ^bb0(%h: tensor<2xsi1>, %xt: tensor<2xsi6>):
    %t = qrnn.threshold %xt thresholds(dense<[3]> : tensor<1xi64>) base(-1) : tensor<2xsi6> -> tensor<2xsi1>
    qrnn.yield %t, %t : tensor<2xsi1>, tensor<2xsi1>
  }
  %y = qrnn.dequantize %ys by <s1, scale = 1.0, zp = 0> : tensor<4x2xsi1> -> tensor<4x2xf32>
  func.return %y : tensor<4x2xf32>
}
"""


def test_threshold_to_one_bit_codes_emits():
    """A threshold unit whose codes are si1 ({-1, 0}: an activation quantizer that range analysis narrowed to
    one bit, seen on a 2-bit tanh) counts in a type that holds its increment 1, then casts back."""
    x = {"X": np.array([[[-32.0, 31.0], [2.0, 3.0], [4.0, -1.0], [0.0, 3.4]]], np.float32)}
    want = _emits_like_the_interpreter(THRESHOLD_TO_ONE_BIT, x, "threshold to si1")
    assert np.array_equal(want["Y"], [[[-1, 0], [-1, 0], [0, -1], [-1, 0]]])


def _syntax_check(src: str, tmp_path) -> subprocess.CompletedProcess:
    from lstmc.hls.project import ap_types_dir

    path = tmp_path / "kernel.cpp"
    path.write_text(src)
    return subprocess.run(
        ["g++", "-fsyntax-only", "-std=c++14", "-w", f"-I{ap_types_dir()}", str(path)], capture_output=True, text=True
    )


KEYWORD_AND_UNDERSCORE = """
"hlscpp.func"() <{sym_name = "f", function_type = (memref<4xsi8>, memref<4xsi8>) -> (), arg_names = ["src", "dst"], interfaces = [#hlscpp<interface default>, #hlscpp<interface default>], top}> ({
^bb0(%a: memref<4xsi8>, %b: memref<4xsi8>):
  %int = "hlscpp.array"() <{storage = #hlscpp<storage local>, partition = []}> : () -> memref<4xsi8>
  %int_ = "hlscpp.array"() <{storage = #hlscpp<storage local>, partition = []}> : () -> memref<4xsi8>
  "hlscpp.for"() <{lb = 0 : i64, ub = 4 : i64, step = 1 : i64}> ({
  ^bb0(%k: index):
    %v = hlscpp.load %a[%k] : memref<4xsi8> -> si8
    hlscpp.store %v, %int[%k] : si8, memref<4xsi8>
    %w = hlscpp.load %int[%k] : memref<4xsi8> -> si8
    hlscpp.store %w, %int_[%k] : si8, memref<4xsi8>
    %u = hlscpp.load %int_[%k] : memref<4xsi8> -> si8
    hlscpp.store %u, %b[%k] : si8, memref<4xsi8>
  }) : () -> ()
}) : () -> ()
"""


def test_prepare_emission_keyword_and_underscore_names_stay_distinct():
    """Arrays named `int` and `int_` print as two distinct, non-keyword C++ identifiers."""
    from xdsl.parser import Parser

    from lstmc.hls.emit import emit_hls_cpp
    from lstmc.passes.hlscpp_prepare_emission import RESERVED
    from lstmc.pipeline import make_context

    module = Parser(make_context(), KEYWORD_AND_UNDERSCORE).parse_module()
    apply_pipeline(module, ["hlscpp-prepare-emission"])
    buf = StringIO()
    emit_hls_cpp(module, buf)
    names = re.findall(r"ap_int<8> (\w+)\[4\];", buf.getvalue())
    assert len(names) == 2 and len(set(names)) == 2, names
    assert not set(names) & RESERVED, names


@needs_cxx
@needs_ap_types
def test_tensor_named_like_a_loop_index_compiles(tmp_path):
    """A model whose Scan body names a tensor `i` still gives a kernel that compiles."""
    model = onnx.load(FIXTURES[[p.name for p in FIXTURES].index("l1_w4_po2.onnx")])
    body = next(n for n in model.graph.node if n.op_type == "Scan").attribute[0].g
    old = next(o for n in body.node for o in n.output if "input_act_dq" in o)
    for n in body.node:
        n.output[:] = ["i" if o == old else o for o in n.output]
        n.input[:] = ["i" if o == old else o for o in n.input]
    _, df = lower(model)
    proc = _syntax_check(kernel_source(df), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
