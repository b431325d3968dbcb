"""FINN-GL's reference LSTM cell (qonnx notebooks/4_quant_lstm.ipynb, built by lstmc.testing_finn_cell) at every
stage, from a symbolic-length model as the notebook writes it.

Properties (whole outputs compared with np.array_equal unless said otherwise):
- the generator writes the notebook's cell: opset 14, column vectors, the input quantizer (and a dead Identity)
  inside the body, INT8 Clip bounds, float [H, 1] biases, typed value_info, an unused initializer, h0/c0 graph
  inputs, a [None, I, 1] scan input, Q/DQ of one tensor with two scales when asked. Breaks if it drifts.
- qrnn == onnxruntime on every spec (sizes 2..20, bit widths 2..8, power-of-two and float scales, one or two
  scales per Q/DQ pair), the sequence length taken from the inputs; integer == dataflow (== csim below).
  integer == onnxruntime exactly with power-of-two scales; with float scales the h outputs differ only at
  float32 ties (lstmc.tie_trace), and the unquantized cell state c_T by float32 rounding of onnxruntime's
  fl(fl(c1 s) + fl(c2 s)) (the integer design dequantizes the exact sum once), checked by verify's contract
  (tests/test_verify_ties.py tests that third class). Breaks if the carried 9-bit
  sum, the transposed column products, the hoisted input quantizer, the boundary quantization of h0/c0, the
  requantization to another scale or the float-bias folding computes another integer.
- qrnn-canonicalize keeps the float semantics of the column-vector cell bit for bit (the tie tracer runs that
  IR), which is why the matrix-column products stay as written: onnxruntime rounds W x and x^T W^T differently.
- the grid analysis proves c_t's grid and range (a sum of two codes), refuses a state that grows, and the
  reference counts as exact only when no float32 operation of it rounds (a float bias off the grid does).
- CLI: run/verify bind T from the inputs, compile and import need --seq-len (or --inputs) and say so in one
  line; verify draws random h0/c0 on their state's grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
from conftest import needs_ap_types, needs_cxx
from onnx import TensorProto, helper, numpy_helper
from xdsl.dialects.builtin import TensorType

from lstmc.analysis import function_grids, initial_state_grids, reference_is_exact
from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.frontend import bind_sequence_length
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import entry_function, run_function
from lstmc.pipeline import apply_pipeline, lower_to_stage
from lstmc.stages import run_stage
from lstmc.testing_finn_cell import INPUTS, FinnCellSpec, build_finn_cell, cell_quantizers, finn_cell_inputs

H_OUTS = ("scan_out_hidden_state", "scan_out_hidden_state_concat")
C_OUT = "scan_out_cell_state"
T = 6

SPECS = {
    "po2_8bit": FinnCellSpec(seed=1),
    "po2_diff_i20_h2": FinnCellSpec(input_size=20, hidden_size=2, same_qdq_scale=False, seed=2),
    "po2_2bit": FinnCellSpec(input_size=2, hidden_size=3, weight_bits=2, act_bits=2, sigmoid_bits=2, seed=3),
    "po2_h20_mixed": FinnCellSpec(input_size=5, hidden_size=20, weight_bits=4, act_bits=6, sigmoid_bits=5, seed=4),
    "float_8bit_notebook_sizes": FinnCellSpec(input_size=10, hidden_size=20, po2=False, seed=5),
    "float_same_i3_h7": FinnCellSpec(
        input_size=3, hidden_size=7, weight_bits=6, act_bits=7, sigmoid_bits=6, po2=False, seed=6
    ),
    "float_diff_narrow": FinnCellSpec(
        input_size=8, hidden_size=3, weight_bits=3, act_bits=4, sigmoid_bits=3, po2=False, same_qdq_scale=False, seed=7
    ),
}


def _body(model: onnx.ModelProto) -> onnx.GraphProto:
    (scan,) = model.graph.node
    return next(a.g for a in scan.attribute if a.name == "body")


def _node(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    return next(n for n in graph.node if n.name == name)


# ---------------------------------------------------------------------------------------------- the generator
@pytest.mark.parametrize("same", [True, False], ids=["same_qdq_scale", "two_scales"])
def test_generator_writes_the_notebook_cell(same):
    spec = FinnCellSpec(input_size=3, hidden_size=4, act_bits=6, same_qdq_scale=same)
    model = build_finn_cell(spec)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", 14)]
    assert [i.name for i in model.graph.input] == list(INPUTS) and not model.graph.initializer
    x = model.graph.input[2].type.tensor_type.shape.dim
    assert not x[0].HasField("dim_value") and [d.dim_value for d in x[1:]] == [3, 1]
    body = _body(model)
    assert [i.name for i in body.input] == ["h_t-1", "c_t-1", "inp"]
    assert all([d.dim_value for d in i.type.tensor_type.shape.dim] == [n, 1] for i, n in zip(body.input, (4, 4, 3)))
    # input quantizer inside the body, a dead Identity on its codes
    q_in = _node(body, "quantizelinear_ql_input_out")
    assert q_in.input[0] == "inp"
    dead = _node(body, "identity_first_input_out")
    assert dead.input[0] == q_in.output[0] and not any(dead.output[0] in n.input for n in body.node)
    # weights: INT8 Clip to the narrow range, MatMul(W, x) with W [H, I]
    clip = _node(body, "clip_dql_wf_out_clp")
    inits = {i.name: numpy_helper.to_array(i) for i in body.initializer}
    assert inits[clip.input[1]].dtype == np.int8 and (int(inits[clip.input[1]]), int(inits[clip.input[2]])) == (
        -127,
        127,
    )
    assert inits["W_f"].shape == (4, 3) and _node(body, "matmul_out_m1_f").input == ["dql_wf_out", "dql_input_out"]
    # float bias [H, 1] added without a quantizer; the unused initializer
    assert inits["b_f"].shape == (4, 1) and inits["b_f"].dtype == np.float32
    assert _node(body, "add_f_t_ba").input[1] == "b_f"
    assert not any("scale_test" in n.input for n in body.node)
    # the forget pre-activation's Q and DQ read two scale initializers (the notebook's scale_3 and scale_4),
    # equal in value or not
    q, dq = _node(body, "quantizelinear_f_t_dql1_ql"), _node(body, "dequantizelinear_f_t_dql1")
    assert q.input[1] != dq.input[1] and (inits[q.input[1]] == inits[dq.input[1]]) == same
    # typed value_info for every intermediate (integer codes INT8/UINT8), unsigned sigmoid codes
    infos = {v.name: v.type.tensor_type.elem_type for v in body.value_info}
    produced = {o for n in body.node for o in n.output} - {o.name for o in body.output}
    assert produced <= set(infos)
    assert infos["f_t_dql2_ql"] == TensorProto.UINT8 and infos["fifth_dql1_ql"] == TensorProto.INT8
    # c_t is the unquantized sum that the body yields
    assert _node(body, "add_c_t").input == ["fifth_dql1", "fifth_dql2"] and body.output[1].name == "c_t"


def test_generator_initial_states_lie_on_the_state_grids():
    spec = FinnCellSpec(act_bits=5, po2=False, seed=9)
    qs = cell_quantizers(spec)
    x = finn_cell_inputs(spec, 16, T, seed=2)
    h, c = (_codes(x[n], qs[k].scale) for n, k in (("scan_hidden_state", "h"), ("scan_cell_state", "c")))
    assert np.abs(h).max() <= 16
    assert np.abs(c).max() <= 32 and np.abs(c).max() > 16


def _codes(values: np.ndarray, scale: float) -> np.ndarray:
    """The codes whose DequantizeLinear values `values` are (asserting that they are such values)."""
    s = np.float32(scale)
    codes = np.round(values / s)
    assert np.array_equal(codes.astype(np.float32) * s, values), "not dequantized codes of this scale"
    return codes


# ---------------------------------------------------------------------------------------------- every stage
def _contract_float(spec: FinnCellSpec, model, x, ref, integer) -> None:
    """Float scales: lstmc verify's contract. h differs only at float32 ties (traced); the unquantized c_T also
    by float32 rounding of onnxruntime's sum within the float trace's bound (lstmc.tie_trace), never h."""
    from lstmc.analysis import output_lsbs
    from lstmc.tie_trace import TieTracer
    from lstmc.verify import check_stage

    imported = import_model(bind_sequence_length(model, arrays=x))
    report = check_stage("integer", ref, integer, output_lsbs(imported), False, TieTracer(imported, x))
    assert report.ok, [v.describe() for v in report.real]
    rows = {r.output: r for r in report.rows}
    assert all(rows[k].rounded == 0 for k in H_OUTS), "a quantized output was accepted as float rounding"
    s = np.float64(np.float32(cell_quantizers(spec)["c"].scale))
    codes = integer[C_OUT] / s
    assert np.allclose(codes, np.round(codes), rtol=0, atol=1e-3), "c_T is not a whole number of LSBs"


@pytest.mark.parametrize("name", SPECS)
def test_every_stage_meets_the_contract(name):
    spec = SPECS[name]
    model = build_finn_cell(spec)  # symbolic T: every stage takes it from the inputs
    x = finn_cell_inputs(spec, 8, T, seed=1)
    ref = run_stage("reference", model, x)
    assert {k: v.shape for k, v in ref.items()} == {
        "scan_out_hidden_state": (8, spec.hidden_size, 1),
        C_OUT: (8, spec.hidden_size, 1),
        "scan_out_hidden_state_concat": (8, T, spec.hidden_size, 1),
    }
    distinct = len(np.unique(ref["scan_out_hidden_state_concat"]))
    assert distinct > min(4, 2**spec.act_bits - 2), "degenerate model: the outputs barely vary"
    qrnn_out = run_stage("qrnn", model, x)
    for k in ref:
        assert np.array_equal(qrnn_out[k], ref[k]), f"{name}: qrnn vs reference on {k}"
    integer = run_stage("integer", model, x)
    dataflow = run_stage("dataflow", model, x)
    for k in ref:
        assert np.array_equal(dataflow[k], integer[k]), f"{name}: dataflow vs integer on {k}"
    if spec.po2:
        for k in ref:
            assert np.array_equal(integer[k], ref[k]), f"{name}: integer vs reference on {k}"
    else:
        _contract_float(spec, model, x, ref, integer)


def test_other_lengths_from_the_same_model():
    spec = SPECS["po2_diff_i20_h2"]
    model = build_finn_cell(spec)
    for steps in (1, 11):
        x = finn_cell_inputs(spec, 3, steps, seed=steps)
        ref = run_stage("reference", model, x)
        got = run_stage("integer", model, x)
        assert got["scan_out_hidden_state_concat"].shape == (3, steps, 2, 1)
        for k in ref:
            assert np.array_equal(got[k], ref[k]), (steps, k)


def test_initial_states_are_quantized_onto_their_grids_at_the_boundary():
    """The kernel takes h0/c0 as codes: an input off the grid is rounded onto it (half to even, saturating),
    so the integer stage on any h0/c0 equals the integer stage on those rounded values."""
    spec = FinnCellSpec(input_size=3, hidden_size=5, seed=11)
    model = build_finn_cell(FinnCellSpec(**{**spec.__dict__, "seq_len": T}))
    qs = cell_quantizers(spec)
    x = finn_cell_inputs(spec, 6, T, seed=3)
    rng = np.random.default_rng(4)
    off = dict(
        x,
        scan_hidden_state=rng.standard_normal(x["scan_hidden_state"].shape).astype(np.float32),
        scan_cell_state=(rng.standard_normal(x["scan_cell_state"].shape) * 4).astype(np.float32),
    )
    rounded = dict(off)
    for name, q, (lo, hi) in (("scan_hidden_state", qs["h"], qs["h"].range), ("scan_cell_state", qs["c"], (-256, 255))):
        s = np.float32(q.scale)
        rounded[name] = np.clip(np.round(off[name] / s), lo, hi).astype(np.float32) * s
    assert not np.array_equal(rounded["scan_cell_state"], off["scan_cell_state"])
    a, b = run_stage("integer", model, off), run_stage("integer", model, rounded)
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert np.array_equal(
        b["scan_out_hidden_state_concat"], run_stage("reference", model, rounded)["scan_out_hidden_state_concat"]
    )


# ---------------------------------------------------------------------------------------------- float semantics
def test_matrix_column_product_rounds_differently_from_the_row_product():
    """Why qrnn-canonicalize keeps MatMul(W, x [K, 1]) as written: onnxruntime's two forms of one product differ."""
    from lstmc import numerics

    rng = np.random.default_rng(0)
    differ = 0
    for _ in range(20):
        w = rng.standard_normal((6, 9)).astype(np.float32)
        x = rng.standard_normal((9, 1)).astype(np.float32)
        differ += not np.array_equal(numerics.matmul(w, x)[:, 0], numerics.matmul(x[:, 0], np.ascontiguousarray(w.T)))
    assert differ > 0


@pytest.mark.parametrize("name", ["float_8bit_notebook_sizes", "float_diff_narrow"])
def test_canonicalized_cell_keeps_the_float_semantics(name):
    spec = SPECS[name]
    model = build_finn_cell(FinnCellSpec(**{**spec.__dict__, "seq_len": T}))
    x = finn_cell_inputs(spec, 8, T, seed=5)
    module = import_model(model)
    apply_pipeline(module, ["qrnn-canonicalize", "qrnn-fold-constants"])
    rec = next(op for op in module.walk() if isinstance(op, qrnn.RecurrenceOp))
    assert all(isinstance(a.type, TensorType) and len(a.type.get_shape()) == 1 for a in rec.body.block.args), (
        "the recurrence still runs on columns"
    )
    assert not any(isinstance(op, qrnn.QuantOp) and op.input in rec.body.block.args[2:] for op in rec.walk()), (
        "the input quantizer is still inside the body"
    )
    got, ref = run_function(module, x), run_stage("reference", model, x)
    for k in ref:
        assert np.array_equal(got[k], ref[k]), k


# ---------------------------------------------------------------------------------------------- grid analysis
def test_grid_analysis_of_the_cell_state():
    spec = FinnCellSpec(act_bits=6, seq_len=T, seed=12)
    module = import_model(build_finn_cell(spec))
    fn = entry_function(module)
    analysis = function_grids(fn)
    (rec,) = [op for op in fn.walk() if isinstance(op, qrnn.RecurrenceOp)]
    h, c = analysis.states[rec]
    assert h is not None and c is not None
    qs = cell_quantizers(spec)
    assert (float(h.scale), h.lo, h.hi) == (qs["h"].scale, -32, 31)
    # c_t = two s6 codes: [-64, 62] on the cell-product scale, held in the smallest range with it, s7
    assert (float(c.scale), c.lo, c.hi) == (qs["c"].scale, -64, 63)
    yield_op = rec.body.block.last_op
    assert yield_op is not None
    c_t = analysis.grid(yield_op.operands[1])
    assert c_t is not None and (c_t.lo, c_t.hi) == (-64, 62)
    assert set(initial_state_grids(module)) == {"scan_hidden_state", "scan_cell_state"}


def _parse(text: str):
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    return Parser(make_context(), text).parse_module()


STATE = """
func.func @f(%x: tensor<3x2xf32>) -> tensor<2xf32> {
  %h0 = qrnn.constant dense<0.0> : tensor<2xf32>
  %xq = qrnn.quant %x by <s4, scale = 0.5, zp = 0> : tensor<3x2xf32>
  %hT, %ys = qrnn.recurrence(%h0) scan(%xq) directions [forward] -> [forward] : (tensor<2xf32>, tensor<3x2xf32>) -> (tensor<2xf32>, tensor<3x2xf32>) {
  ^bb0(%h: tensor<2xf32>, %xt: tensor<2xf32>):
    %k = qrnn.constant dense<K> : tensor<2xf32>
    %hq = qrnn.quant %h by <s4, scale = 0.5, zp = 0> : tensor<2xf32>
    %p = qrnn.mul %H, %k : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    %s = qrnn.add %p, %xt : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
    qrnn.yield %s, %s : tensor<2xf32>, tensor<2xf32>
  }
  func.return %hT : tensor<2xf32>
}
"""


@pytest.mark.parametrize(
    "h, k, want",
    [
        ("h", "1.0", None),  # h + x_t grows by x_t's range every step
        ("h", "0.5", None),  # 0.5 h + x_t: a finer grid every step (0.5^t h0), none fixed
        ("hq", "2.0", (0.5, -24, 21)),  # 2 Q(h) + x_t: [-16, 14] + [-8, 7] on 0.5, joined with h0 = 0
    ],
)
def test_grid_analysis_of_carried_states(h, k, want):
    fn = entry_function(_parse(STATE.replace("%H", f"%{h}").replace("K", k)))
    analysis = function_grids(fn)
    (rec,) = [op for op in fn.walk() if isinstance(op, qrnn.RecurrenceOp)]
    (state,) = analysis.states[rec]
    assert (state if state is None else (float(state.scale), state.lo, state.hi)) == want


BIAS = """
func.func @f(%x: tensor<2xf32>) -> tensor<2xf32> {
  %xq = qrnn.quant %x by <s8, scale = 0.0625, zp = 0> : tensor<2xf32>
  %b = qrnn.constant dense<BIAS> : tensor<2xf32>
  %a = qrnn.add %xq, %b : (tensor<2xf32>, tensor<2xf32>) -> tensor<2xf32>
  %aq = qrnn.quant %a by <s8, scale = 0.125, zp = 0> : tensor<2xf32>
  func.return %aq : tensor<2xf32>
}
"""


def test_reference_is_exact_only_when_float32_does_not_round():
    assert reference_is_exact(_parse(BIAS.replace("BIAS", "[0.375, -2.0]")))  # on the 1/16 grid
    assert not reference_is_exact(_parse(BIAS.replace("BIAS", "[0.1, -2.0]")))  # 0.1 + x rounds in float32
    assert not reference_is_exact(_parse(BIAS.replace("BIAS", "[0.375, -2.0]").replace("0.125", "0.1")))
    # the notebook cell with its float biases: power-of-two scales, yet the reference rounds
    assert not reference_is_exact(import_model(build_finn_cell(FinnCellSpec(seq_len=T))))


# ---------------------------------------------------------------------------------------------- errors
def test_q_and_dq_with_different_zero_points_is_one_error():
    model = build_finn_cell(FinnCellSpec(seq_len=T, same_qdq_scale=False))
    body = _body(model)
    dq = _node(body, "dequantizelinear_f_t_dql1")
    body.initializer.append(numpy_helper.from_array(np.array(3, np.int8), "other_zp"))
    dq.input[2] = "other_zp"
    with pytest.raises(
        LstmcError,
        match=r"node 'dequantizelinear_f_t_dql1' \(DequantizeLinear\): zero point "
        r"differs from that of QuantizeLinear 'quantizelinear_f_t_dql1_ql'",
    ):
        import_model(model)


def test_per_channel_column_weights_are_one_error():
    model = build_finn_cell(FinnCellSpec(input_size=2, hidden_size=3, seq_len=T))
    body = _body(model)
    q = _node(body, "quantizelinear_dql_wf_out_ql")
    scales = numpy_helper.from_array(np.full(3, 2.0**-7, np.float32), "w_scales")
    zps = numpy_helper.from_array(np.zeros(3, np.int8), "w_zps")
    body.initializer.extend([scales, zps])
    dq = _node(body, "dequantizelinear_dql_wf_out")
    for node in (q, dq):
        node.input[1], node.input[2] = "w_scales", "w_zps"
        node.attribute.append(helper.make_attribute("axis", 0))
    with pytest.raises(LstmcError, match=r"per-channel quantization along axis 0 of a 2-d value is not supported"):
        lower_to_stage(import_model(model), "integer")


# ---------------------------------------------------------------------------------------------- CLI
def _main(capsys, *argv) -> tuple[int, str, str]:
    from lstmc.cli import main

    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_binds_the_sequence_length(tmp_path, capsys):
    spec = FinnCellSpec(input_size=3, hidden_size=4, seed=13)
    path = tmp_path / "finn.onnx"
    onnx.save(build_finn_cell(spec), path)
    x: dict[str, Any] = finn_cell_inputs(spec, 2, 5, seed=1)  # any type: savez's own `allow_pickle` is a keyword
    np.savez(tmp_path / "x.npz", **x)

    code, _, err = _main(capsys, "compile", path, "-o", tmp_path / "p")
    assert code == 1 and err.count("\n") == 1 and "graph input 'scan_input'" in err and "--seq-len" in err
    code, _, err = _main(capsys, "import", path)
    assert code == 1 and "graph input 'scan_input'" in err and "--seq-len" in err
    code, _, err = _main(
        capsys, "compile", path, "-o", tmp_path / "p", "--seq-len", "4", "--inputs", tmp_path / "x.npz"
    )
    assert code == 1 and "--seq-len 4 disagrees with input 'scan_input', whose sequences have 5 steps" in err

    code, out, err = _main(
        capsys, "run", path, "--inputs", tmp_path / "x.npz", "--stage", "integer", "--output", tmp_path / "y.npz"
    )
    assert code == 0, err
    got, ref = np.load(tmp_path / "y.npz"), run_stage("reference", build_finn_cell(spec), x)
    for k in ref:
        assert np.array_equal(got[k], ref[k]), k

    code, out, err = _main(capsys, "verify", path, "--seq-len", "7", "--random", "6", "--stages", "qrnn", "integer")
    assert code == 0, out + err
    assert "but the reference rounds" in out and "all stages meet the contract" in out

    code, out, err = _main(capsys, "compile", path, "-o", tmp_path / "proj", "--seq-len", "3", "--golden", "2")
    assert code == 0, err
    header = (tmp_path / "proj" / "lstmc_kernel.h").read_text()
    # h0 and c0 are kernel input ports of codes on their state's grid (c: the 9-bit sum)
    # (AXI4-Stream beats of one code each, the 9-bit c codes in 16-bit beats)
    assert "hls::stream<ap_axiu<8, 0, 0, 0>> &scan_hidden_state" in header
    assert "hls::stream<ap_axiu<16, 0, 0, 0>> &scan_cell_state" in header
    assert "| `ap_int<9>` |" in (tmp_path / "proj" / "README.md").read_text()


def test_only_the_sequence_length_may_be_symbolic():
    model = build_finn_cell(FinnCellSpec(seq_len=T))
    model.graph.input[2].type.tensor_type.shape.dim[1].dim_param = "I"
    with pytest.raises(
        LstmcError,
        match=r"graph input 'scan_input' has a symbolic dimension 'I' at axis 1; lstmc "
        r"binds only the sequence length",
    ):
        bind_sequence_length(model, 4)


def test_random_verify_inputs_put_initial_states_on_their_grids():
    from lstmc.cli import random_inputs

    spec = FinnCellSpec(input_size=2, hidden_size=3, act_bits=5, po2=False, seq_len=T, seed=14)
    x = random_inputs(build_finn_cell(spec), 32, 0)
    qs = cell_quantizers(spec)
    for name, q, bound in (("scan_hidden_state", qs["h"], 16), ("scan_cell_state", qs["c"], 32)):
        codes = _codes(x[name], q.scale)
        assert np.abs(codes).max() <= bound and len(np.unique(codes)) > 8


# ---------------------------------------------------------------------------------------------- C simulation
@needs_cxx
@needs_ap_types
def test_csim_equals_integer():
    from test_hardware import check_csim_jobs, lower

    cases = [("po2_diff_i20_h2", "threshold", ""), ("float_same_i3_h7", "lut", "qrnn-set-folding{pe=7 simd=2}")]
    jobs = []
    for name, act, folding in cases:
        spec = SPECS[name]
        model = build_finn_cell(FinnCellSpec(**{**spec.__dict__, "seq_len": T}))
        integer, df = lower(model, act_impl=act, folding=folding)
        jobs.append((name, integer, df, finn_cell_inputs(spec, 5, T, seed=6)))
    check_csim_jobs(jobs)
