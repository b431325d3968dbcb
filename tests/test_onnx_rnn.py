"""ONNX LSTM/GRU operators: import into qrnn.recurrence, fidelity against onnxruntime, unsupported attributes.

Properties:
- LSTM with float initializer weights (forward, reverse, bidirectional, no bias, initial states, T = 1): the
  qrnn stage equals onnxruntime bit for bit. Breaks if the gate order (i, o, f, c), the bias order
  ((xW + hR) + (Wb + Rb)), or the GEMM kernel (two-row [v; 0] products) changes.
- layout = 1 (onnxruntime refuses it) gives exactly the layout-0 result, transposed.
- Where bit-exactness is impossible with qrnn ops, the distance is bounded and the reason stated:
  * GRU: onnxruntime's GRU kernel does not use MLAS' logistic/tanh for the reset gate and the candidate; it
    evaluates a scalar rational approximation p(x)/q(x) with a clip (deep_cpu_gru / rnn_helpers.cc,
    gru_reset_gate_sigmoid, gru_output_gate_tanh). qrnn has no division or clamp op, so the body uses
    qrnn.sigmoid/qrnn.tanh (MLAS). A numpy emulation of that rational kernel reproduces onnxruntime exactly.
  * LSTM with QCDQ weights: the weights are no longer initializers, so onnxruntime cannot pre-pack them and
    runs the h-part through MLAS' M = 1 transposed-B vector kernel (mul + add, no FMA, 8 lanes, horizontal
    sum), which no qrnn.matmul reproduces. The quantizers themselves are kept exactly.
- A quantized GRU written as a Scan with QCDQ compiles through integer, dataflow and C-simulation, bit-exact
  between stages and with the reference (power-of-two scales).
- Every unsupported attribute/input is a one-line LstmcError naming the node and the attribute.
"""

import re

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lstmc.errors import LstmcError
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.reference import run_reference

# Largest absolute error where bit-exactness is impossible (outputs lie in [-1, 1]; see the module docstring).
# Measured with onnxruntime 1.32 on x86-64: GRU up to 4.0e-6 (H = 64, T = 12; 2.4e-7 at H = 8), QCDQ LSTM up to
# 9.2e-7; the error grows with H and T because the recurrence propagates one-ulp differences.
MAX_ABS_ERROR = 1e-5


def make_rnn(kind="LSTM", T=6, I=5, H=8, seed=3, direction="forward", layout=0, bias=True, lbr=None,
             init=False, qcdq=False, batch=1, extra_inputs=None, **attrs):
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = 4 if kind == "LSTM" else 3
    arrays = {"W": rng.standard_normal((D, G * H, I)), "R": rng.standard_normal((D, G * H, H)),
              "B": rng.standard_normal((D, 2 * G * H)) * 0.6}
    inits, nodes = [], []
    for name, a in arrays.items():
        a = (a * 0.5).astype(np.float32)
        if qcdq and name in "WR":
            inits += [numpy_helper.from_array(a, name + "_f"), numpy_helper.from_array(np.float32(0.0625), name + "_s"),
                      numpy_helper.from_array(np.int8(0), name + "_z")]
            nodes += [helper.make_node("QuantizeLinear", [name + "_f", name + "_s", name + "_z"], [name + "_q"]),
                      helper.make_node("DequantizeLinear", [name + "_q", name + "_s", name + "_z"], [name])]
        else:
            inits.append(numpy_helper.from_array(a, name))
    inputs = ["X", "W", "R", "B" if bias else ""]
    state_shape = (batch, D, H) if layout else (D, batch, H)
    if init:
        inputs += ["", "h0"] + (["c0"] if kind == "LSTM" else [])
        inits += [numpy_helper.from_array(rng.standard_normal(state_shape).astype(np.float32), n) for n in ("h0", "c0")]
    for index, (name, array) in (extra_inputs or {}).items():
        inputs += [""] * (index + 1 - len(inputs))
        inputs[index] = name
        if array is not None:
            inits.append(numpy_helper.from_array(array, name))
    attrs = dict(attrs, hidden_size=H, direction=direction)
    if layout:
        attrs["layout"] = layout
    if lbr is not None:
        attrs["linear_before_reset"] = lbr
    outputs = ["Y", "Y_h"] + (["Y_c"] if kind == "LSTM" else [])
    nodes.append(helper.make_node(kind, inputs, outputs, name="rnn", **attrs))
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))  # noqa: E731
    graph_inputs = [vi("X", (batch, T, I) if layout else (T, batch, I))]
    for name, array in (extra_inputs or {}).values():
        if array is None:
            graph_inputs.append(helper.make_tensor_value_info(name, TensorProto.INT32, [batch]))
    graph = helper.make_graph(nodes, "rnn", graph_inputs,
                              [vi("Y", (batch, T, D, H) if layout else (T, D, batch, H))]
                              + [vi(o, state_shape) for o in outputs[1:]], initializer=inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])


def inputs_for(model, n=6, seed=0):
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return {"X": np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)}


def ulp_distance(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in float32 units in the last place (ordered integer view)."""
    def ordered(x):
        i = np.ascontiguousarray(x, np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(2**31) - i, i)
    return int(np.abs(ordered(a) - ordered(b)).max()) if a.size else 0


def compare(model, x=None):
    x = x or inputs_for(model)
    got = run_function(import_model(model), x)
    ref = run_reference(model, x)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape, k
    mism = {k: int(np.count_nonzero(got[k] != ref[k])) for k in ref}
    ulp = max(ulp_distance(got[k], ref[k]) for k in ref)
    err = max(float(np.abs(got[k].astype(np.float64) - ref[k]).max()) for k in ref)
    return mism, ulp, err


LSTM_CASES = {
    "forward": dict(),
    "reverse": dict(direction="reverse"),
    "bidirectional": dict(direction="bidirectional"),
    "no_bias": dict(bias=False),
    "initial_states": dict(init=True, direction="bidirectional"),
    "one_step": dict(T=1),
    "wider": dict(T=12, I=32, H=64, seed=5),
}


@pytest.mark.parametrize("name", sorted(LSTM_CASES))
def test_float_lstm_qrnn_equals_onnxruntime_bit_for_bit(name):
    mism, ulp, err = compare(make_rnn("LSTM", **LSTM_CASES[name]))
    assert all(v == 0 for v in mism.values()), f"{name}: mismatches {mism}, max {ulp} ulp, max abs {err:g}"


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layout_1_is_layout_0_transposed(kind):
    """onnxruntime refuses layout = 1 (batch-major); our import must give the layout-0 values transposed."""
    m0 = make_rnn(kind, direction="bidirectional", init=True)
    m1 = make_rnn(kind, direction="bidirectional", init=True, layout=1)
    x = inputs_for(m0)
    got0 = run_function(import_model(m0), x)
    got1 = run_function(import_model(m1), {"X": x["X"].transpose(0, 2, 1, 3)})
    for k in got0:
        perm = (0, 3, 1, 2, 4) if k == "Y" else (0, 2, 1, 3)
        assert np.array_equal(got1[k], got0[k].transpose(perm)), k


GRU_CASES = {
    "forward": dict(),
    "reverse": dict(direction="reverse"),
    "bidirectional": dict(direction="bidirectional", init=True),
    "no_bias": dict(bias=False),
    "lbr": dict(lbr=1),
    "lbr_bidirectional": dict(lbr=1, direction="bidirectional"),
    "wider": dict(T=12, I=32, H=64, seed=5),
}


@pytest.mark.parametrize("name", sorted(GRU_CASES))
def test_float_gru_qrnn_close_to_onnxruntime(name):
    """Not bit-exact (onnxruntime's GRU uses a scalar rational tanh/sigmoid, see the module docstring): bounded."""
    mism, ulp, err = compare(make_rnn("GRU", **GRU_CASES[name]))
    assert err <= MAX_ABS_ERROR, f"{name}: mismatches {mism}, max {ulp} ulp, max abs {err:g}"


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_qcdq_weights_keep_their_quantizers_and_stay_close(kind):
    model = make_rnn(kind, direction="bidirectional", qcdq=True)
    module = import_model(model)
    text = str(module)
    G = 4 if kind == "LSTM" else 3
    # every per-gate weight (W and R, both directions) is a constant with the weight quantizer kept
    assert text.count("by <s8, scale = 0.0625, zp = 0>") == 2 * 2 * G
    # the QCDQ of the whole [D, G*H, I] tensor is gone from the main graph (only per-gate constants remain)
    assert "qrnn.quant" not in text.split("qrnn.recurrence")[0]
    mism, ulp, err = compare(model)
    assert err <= MAX_ABS_ERROR, f"mismatches {mism}, {ulp} ulp, max abs {err:g}"


def test_graph_input_initial_state_is_sliced_per_direction():
    model = make_rnn("LSTM", direction="bidirectional", init=True)
    # turn h0 into a graph input
    h0 = next(i for i in model.graph.initializer if i.name == "h0")
    value = numpy_helper.to_array(h0)
    model.graph.initializer.remove(h0)
    model.graph.input.append(helper.make_tensor_value_info("h0", TensorProto.FLOAT, list(value.shape)))
    x = inputs_for(model)
    x["h0"] = np.random.default_rng(1).standard_normal((x["X"].shape[0], *value.shape)).astype(np.float32)
    got, ref = run_function(import_model(model), x), run_reference(model, x)
    for k in ref:
        assert np.array_equal(got[k], ref[k]), k


def test_float_lstm_integer_stage_refuses_unquantized_state():
    from lstmc.pipeline import lower_to_stage

    with pytest.raises(LstmcError, match=r"qrnn-legalize-precision: 'qrnn.recurrence': carried state 0 is not the "
                                          r"output of a quantizer; lstmc needs quantized state"):
        lower_to_stage(import_model(make_rnn("LSTM")), "integer")


ERRORS = {
    "peephole": (dict(extra_inputs={7: ("P", np.zeros((1, 24), np.float32))}), r"peephole weights \(input 'P' = 'P'\)"),
    "clip": (dict(clip=3.0), r"attribute 'clip' \(3\) is not supported"),
    "activations": (dict(activations=["Tanh", "Tanh", "Tanh"]), r"attribute 'activations' = \[Tanh, Tanh, Tanh\]"),
    "activation_alpha": (dict(activations=["Sigmoid", "Tanh", "Tanh"], activation_alpha=[1.0]),
                         r"attribute 'activation_alpha' is not supported"),
    "input_forget": (dict(input_forget=1), r"attribute 'input_forget' = 1"),
    "batch": (dict(batch=2), r"input 'X' \('X'\) has batch size 2"),
    "sequence_lens_value": (dict(extra_inputs={4: ("lens", np.array([3], np.int32))}),
                            r"input 'sequence_lens' \('lens'\) is \[3\]; lstmc supports only a constant \[6\]"),
    "layout": (dict(layout=2), r"attribute 'layout' = 2 is not 0 or 1"),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_unsupported_lstm_features_are_one_line_errors(name):
    kwargs, pattern = ERRORS[name]
    model = make_rnn("LSTM", **kwargs)
    with pytest.raises(LstmcError) as info:
        import_model(model)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("node 'rnn' (LSTM): "), message
    assert re.search(pattern, message), message


def test_sequence_lens_graph_input_is_an_error():
    """An int32 graph input is refused before the LSTM is reached (lstmc models take float32 inputs)."""
    with pytest.raises(LstmcError, match=r"^graph input 'lens' has element type INT32; lstmc models take float32"):
        import_model(make_rnn("LSTM", extra_inputs={4: ("lens", None)}))


def test_gru_non_default_activation_is_an_error():
    with pytest.raises(LstmcError, match=r"node 'rnn' \(GRU\): attribute 'activations' = \[Sigmoid, Relu\]"):
        import_model(make_rnn("GRU", activations=["Sigmoid", "Relu"]))


def test_gru_clip_is_an_error():
    with pytest.raises(LstmcError, match=r"node 'rnn' \(GRU\): attribute 'clip'"):
        import_model(make_rnn("GRU", clip=1.0))


# ---------------------------------------------------------------------------------------------------------
# A quantized GRU (Scan with QCDQ inside the recurrence) through the whole pipeline
# ---------------------------------------------------------------------------------------------------------

class _Builder:
    """Nodes and initializers of one graph, with QCDQ quantizers (int8/uint8 containers, Clip to narrower ranges)."""
    def __init__(self, prefix=""):
        self.prefix, self.nodes, self.inits, self.count = prefix, [], [], 0
    def name(self, base):
        self.count += 1
        return f"{self.prefix}{base}_{self.count}"
    def const(self, base, array):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.asarray(array), n))
        return n
    def node(self, op, inputs, base, **attrs):
        out = self.name(base)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out + "_node", **attrs))
        return out
    def quant(self, x, bits, signed, scale, base, narrow=False):
        dtype = np.int8 if signed else np.uint8
        s, z = self.const(base + "_s", np.float32(scale)), self.const(base + "_z", dtype(0))
        q = self.node("QuantizeLinear", [x, s, z], base + "_q")
        lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
        hi = 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1
        if (lo, hi) != (np.iinfo(dtype).min, np.iinfo(dtype).max):
            q = self.node("Clip", [q, self.const(base + "_lo", dtype(lo)), self.const(base + "_hi", dtype(hi))], base + "_c")
        return self.node("DequantizeLinear", [q, s, z], base + "_dq")

def build_qgru(I=3, H=4, T=6, seed=0, reverse=False):
    rng = np.random.default_rng(seed)
    main, body = _Builder(), _Builder("b_")
    io, acc, sig, tanh, w = (8, True, 2.0**-5), (8, True, 2.0**-4), (6, False, 2.0**-6), (6, True, 2.0**-5), (4, True, 0.25)
    x_q = main.quant("X", *io, "x_in")
    h, x_t = body.name("h"), body.name("x_t")
    def pre(inp, g):
        W = body.quant(body.const("W" + g, (rng.standard_normal((I, H)) * 0.5).astype(np.float32)), *w, "W" + g, narrow=True)
        R = body.quant(body.const("R" + g, (rng.standard_normal((H, H)) * 0.5).astype(np.float32)), *w, "R" + g, narrow=True)
        b = body.quant(body.const("b" + g, (rng.standard_normal(H) * 0.3).astype(np.float32)), 8, True, 2.0**-5, "b" + g)
        xw = body.node("Add", [body.node("MatMul", [x_t, W], "xw" + g), b], "xwb" + g)
        return body.quant(body.node("Add", [xw, body.node("MatMul", [inp, R], "hr" + g)], "acc" + g), *acc, "acc" + g)
    z = body.quant(body.node("Sigmoid", [pre(h, "z")], "z"), *sig, "zq")
    r = body.quant(body.node("Sigmoid", [pre(h, "r")], "r"), *sig, "rq")
    rh = body.quant(body.node("Mul", [r, h], "rh"), *io, "rhq")
    n = body.quant(body.node("Tanh", [pre(rh, "h")], "n"), *tanh, "nq")
    one = body.const("one", np.float32(1.0))
    keep = body.node("Mul", [body.node("Sub", [one, z], "one_minus_z"), n], "keep")
    h_new = body.quant(body.node("Add", [keep, body.node("Mul", [z, h], "zh")], "h_sum"), *io, "h_new")
    h_out = body.node("Identity", [h_new], "h_out")
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)
    graph = helper.make_graph(body.nodes, "gru_body", [vi(h, [H]), vi(x_t, [I])], [vi(h_new, [H]), vi(h_out, [H])], initializer=body.inits)
    h0 = main.const("h0", np.zeros(H, np.float32))
    d = int(reverse)
    main.nodes.append(helper.make_node("Scan", [h0, x_q], ["h_n", "Y"], name="gru", body=graph, num_scan_inputs=1,
                                       scan_input_directions=[d], scan_output_directions=[d]))
    g = helper.make_graph(main.nodes, "qgru", [vi("X", [T, I])], [vi("Y", [T, H]), vi("h_n", [H])], initializer=main.inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    return m


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_quantized_gru_scan_compiles_bit_exact_through_csim(reverse):
    """integer == dataflow == csim bit for bit, and integer meets the contract against onnxruntime."""
    import shutil

    from lstmc.analysis import all_scales_power_of_two, output_lsbs
    from lstmc.stages import run_stage
    from lstmc.verify import check_stage

    model = build_qgru(reverse=reverse, seed=int(reverse))
    x = {"X": np.random.default_rng(0).standard_normal((16, 6, 3)).astype(np.float32) * 1.5}
    imported = import_model(model)
    assert "qrnn.sub" in str(imported) and "qrnn.recurrence" in str(imported)
    reference = run_stage("reference", model, x)
    stages = ["qrnn", "integer", "dataflow"] + (["csim"] if shutil.which("g++") or shutil.which("c++") else [])
    got = {s: run_stage(s, model, x) for s in stages}
    for k in reference:
        assert np.array_equal(got["qrnn"][k], reference[k]), k
        for s in stages[2:]:
            assert np.array_equal(got[s][k], got["integer"][k]), f"{s} differs from integer on {k}"
    report = check_stage("integer", reference, got["integer"], output_lsbs(imported), all_scales_power_of_two(imported))
    assert report.ok, report.reason
