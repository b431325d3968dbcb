"""ONNX LSTM/GRU operators: import into qrnn.recurrence, fidelity against onnxruntime, unsupported attributes.

Properties (every comparison is whole outputs, np.array_equal, on inputs at magnitudes 1, 8 and 1000 — the last
far past every clamp):
- LSTM with float initializer weights (forward, reverse, bidirectional, no bias, initial states, T = 1): the
  qrnn stage equals onnxruntime bit for bit. Breaks if the gate order (i, o, f, c), the bias order
  ((xW + hR) + (Wb + Rb)), or the GEMM kernel (two-row [v; 0] products) changes.
- GRU (forward, reverse, bidirectional, no bias, T = 1, linear_before_reset 0/1, H = 64): bit for bit. onnxruntime's
  GRU kernel computes z with MLAS' logistic but r and the candidate with a scalar rational approximation after a
  clamp (rnn_helpers.cc gru_reset_gate_sigmoid / gru_output_gate_tanh): `kernel rational` on qrnn.sigmoid /
  qrnn.tanh, emulated in lstmc.numerics. The reset product r * v is rounded once even when subnormal (checked).
  Precision legalization tabulates the op's own kernel.
- LSTM and GRU with QCDQ / DequantizeLinear weights (per tensor, per channel, only W or only R, odd H, T = 1,
  H = 150): bit for bit. onnxruntime cannot pre-pack weights computed at run time, so its one-row GEMMs by them
  run MLAS' M = 1 transposed-B kernel: one `qrnn.matmul ... kernel m1_transb` per onnxruntime GEMM. The
  emulation is checked directly against onnxruntime's Gemm for every K mod 8 and N mod 4.
- layout = 1 (onnxruntime refuses it) gives exactly the layout-0 result, transposed.
- A quantized GRU written as a Scan with QCDQ compiles through integer, dataflow and C-simulation, bit-exact
  between stages and with the reference (power-of-two scales).
- Every unsupported attribute/input is a one-line LstmcError naming the node and the attribute.
Not exact (see lstmc/frontend/onnx_rnn.py): GEMMs whose K exceeds MLAS' K block (H > 128, or I > 128 with run-time
weights and T > 1), and non-finite pre-activations with a bias.
"""

import re
from typing import Any

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from lstmc.errors import LstmcError
from lstmc.frontend.onnx_import import import_model
from lstmc.interpreter import run_function
from lstmc.reference import run_reference


def make_rnn(
    kind="LSTM",
    T=6,
    I=5,
    H=8,
    seed=3,
    direction="forward",
    layout=0,
    bias=True,
    lbr=None,
    init=False,
    qcdq=False,
    batch=1,
    extra_inputs=None,
    per_channel=False,
    dq_only=False,
    **attrs: Any,
):
    """An ONNX LSTM/GRU node with random weights. `qcdq`: True (W and R), "W" or "R" are QuantizeLinear ->
    DequantizeLinear of a float initializer (`dq_only`: DequantizeLinear of int8 codes), per tensor (scale
    1/16) or `per_channel` (one scale per row of the [D, G*H, K] tensor, axis 1)."""
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = 4 if kind == "LSTM" else 3
    arrays = {
        "W": rng.standard_normal((D, G * H, I)),
        "R": rng.standard_normal((D, G * H, H)),
        "B": rng.standard_normal((D, 2 * G * H)) * 0.6,
    }
    inits, nodes = [], []
    quantized = "WR" if qcdq is True else (qcdq or "")
    for name, a in arrays.items():
        a = (a * 0.5).astype(np.float32)
        if name in quantized:
            scale = np.array(0.0625, np.float32)
            zp = np.array(0, np.int8)
            qattrs: dict[str, Any] = {}
            if per_channel:
                scale = (rng.uniform(0.5, 2.0, G * H) * 0.0625).astype(np.float32)
                zp = np.zeros(G * H, np.int8)
                qattrs = {"axis": 1}
            inits += [numpy_helper.from_array(scale, name + "_s"), numpy_helper.from_array(zp, name + "_z")]
            if dq_only:
                codes = np.clip(np.rint(a / (scale[:, None] if per_channel else scale)), -128, 127).astype(np.int8)
                inits.append(numpy_helper.from_array(codes, name + "_q"))
            else:
                inits.append(numpy_helper.from_array(a, name + "_f"))
                nodes.append(
                    helper.make_node("QuantizeLinear", [name + "_f", name + "_s", name + "_z"], [name + "_q"], **qattrs)
                )
            nodes.append(
                helper.make_node("DequantizeLinear", [name + "_q", name + "_s", name + "_z"], [name], **qattrs)
            )
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
    graph = helper.make_graph(
        nodes,
        "rnn",
        graph_inputs,
        [vi("Y", (batch, T, D, H) if layout else (T, D, batch, H))] + [vi(o, state_shape) for o in outputs[1:]],
        initializer=inits,
    )
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


# Input magnitudes: 1 and 8 keep most gates unsaturated; 1000 drives the pre-activations far past the clamps
# of onnxruntime's rational sigmoid (|x| > 20) and tanh (|x| > 10).
MAGNITUDES = (1.0, 8.0, 1000.0)


def inputs_at_magnitudes(model, n=6, seed=0):
    x = inputs_for(model, n=n, seed=seed)["X"]
    return {"X": np.concatenate([x * np.float32(m) for m in MAGNITUDES])}


def assert_bit_exact(model, x=None, label=""):
    x = x or inputs_at_magnitudes(model)
    got = run_function(import_model(model), x)
    ref = run_reference(model, x)
    assert set(got) == set(ref)
    for k in ref:
        assert got[k].shape == ref[k].shape, k
        if not np.array_equal(got[k], ref[k]):
            bad = int(np.count_nonzero(got[k] != ref[k]))
            raise AssertionError(
                f"{label} {k}: {bad} of {ref[k].size} values differ, max {ulp_distance(got[k], ref[k])} "
                f"ulp, max abs {float(np.abs(got[k].astype(np.float64) - ref[k]).max()):g}"
            )


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
    assert_bit_exact(make_rnn("LSTM", **LSTM_CASES[name]), label=name)


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
    "one_step": dict(T=1),
    "lbr": dict(lbr=1),
    "lbr_bidirectional": dict(lbr=1, direction="bidirectional"),
    "lbr_no_bias": dict(lbr=1, bias=False, init=True),
    "wider": dict(T=12, I=32, H=64, seed=5),
    "wider_lbr_bidirectional": dict(T=12, I=32, H=64, seed=6, lbr=1, direction="bidirectional"),
}


@pytest.mark.parametrize("name", sorted(GRU_CASES))
def test_float_gru_qrnn_equals_onnxruntime_bit_for_bit(name):
    """z: MLAS logistic; r and the candidate: onnxruntime's rational approximation (kernel rational);
    h' = (1 - z) * h~ + z * h. Breaks if a gate uses the other kernel, a clamp bound or constant changes, or
    the reset product is not (0.5 * (1 + p/q)) * h."""
    assert_bit_exact(make_rnn("GRU", **GRU_CASES[name]), label=name)


def test_gru_ir_names_its_kernels_and_round_trips():
    """z prints without a kernel (MLAS), r and h~ with `kernel rational`; print -> parse gives the same text
    and the same values."""
    from xdsl.parser import Parser

    from lstmc.pipeline import make_context

    model = make_rnn("GRU", lbr=1)
    module = import_model(model)
    text = str(module)
    assert re.search(r"%z = qrnn.sigmoid %prez : tensor<8xf32>", text), text
    assert re.search(r"%r = qrnn.sigmoid %prer kernel rational : tensor<8xf32>", text), text
    assert re.search(r"%h_cand = qrnn.tanh %preh kernel rational : tensor<8xf32>", text), text
    reparsed = Parser(make_context(), text).parse_module()
    assert str(reparsed) == text
    x = inputs_at_magnitudes(model)
    a, b = run_function(module, x), run_function(reparsed, x)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_gru_reset_product_is_rounded_once_even_when_subnormal():
    """onnxruntime 1.32 stores r = 0.5f * (1 + p/q) and then multiplies r * (h R_h^T) (linear_before_reset); the
    older form (v * 0.5f) * (1 + p/q) rounds twice once the product is subnormal. Odd subnormal initial states
    and W_h = 0 make those products reach the outputs: the emulation must still be exact."""
    rng = np.random.default_rng(0)
    H, I, T = 16, 4, 3
    W = rng.standard_normal((1, 3 * H, I)).astype(np.float32)
    W[0, 2 * H :] = 0
    R = rng.standard_normal((1, 3 * H, H)).astype(np.float32)
    h0 = (rng.integers(1, 2**20, (1, 1, H)) * 2 + 1).astype(np.int32).view(np.float32)
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(R, "R"), numpy_helper.from_array(h0, "h0")]
    node = helper.make_node(
        "GRU", ["X", "W", "R", "", "", "h0"], ["Y", "Y_h"], hidden_size=H, linear_before_reset=1, name="rnn"
    )
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    graph = helper.make_graph(
        [node], "g", [vi("X", [T, 1, I])], [vi("Y", [T, 1, 1, H]), vi("Y_h", [1, 1, H])], initializer=inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    x = {"X": rng.standard_normal((64, T, 1, I)).astype(np.float32) * 3}
    ref = run_reference(model, x)
    assert np.count_nonzero((ref["Y"] != 0) & (np.abs(ref["Y"]) < np.finfo(np.float32).tiny)) > 1000
    assert_bit_exact(model, x)


def test_rational_kernels_follow_onnxruntime_constants_and_clamps():
    """The constants are the float32 values of rnn_helpers.cc's literals; the clamps make the kernels constant
    beyond ±20 (sigmoid) and ±10 (tanh); they are not MLAS' kernels (tanh(10) = 1.0000005 > 1 here)."""
    from fractions import Fraction

    from lstmc import numerics

    for value, text in zip(
        numerics._RATIONAL_ALPHA + numerics._RATIONAL_BETA,
        [
            "4.89352455891786e-03",
            "6.37261928875436e-04",
            "1.48572235717979e-05",
            "5.12229709037114e-08",
            "-8.60467152213735e-11",
            "2.00018790482477e-13",
            "-2.76076847742355e-16",
            "4.89352518554385e-03",
            "2.26843463243900e-03",
            "1.18534705686654e-04",
            "1.19825839466702e-06",
        ],
    ):
        assert value.dtype == np.float32
        up, down = np.nextafter(value, np.float32(np.inf)), np.nextafter(value, np.float32(-np.inf))
        err = abs(Fraction(float(value)) - Fraction(text))
        assert err <= abs(Fraction(float(up)) - Fraction(text)) and err <= abs(Fraction(float(down)) - Fraction(text))
    big = np.array([-1e30, -25.0, -20.0, 20.0, 25.0, np.inf], np.float32)
    s = numerics.sigmoid(big, "rational")
    assert s[0] == s[1] == s[2] and s[3] == s[4] == s[5]
    t = numerics.tanh(np.array([-np.inf, -10.0, 10.0, 11.0], np.float32), "rational")
    assert t[0] == t[1] and t[2] == t[3] == np.float32(1.0000005)
    assert numerics.tanh(np.array([10.0], np.float32))[0] <= 1
    with pytest.raises(ValueError, match="unknown activation kernel 'exact'"):
        numerics.sigmoid(big, "exact")


def test_legalization_tabulates_the_ops_kernel():
    """qrnn-legalize-precision computes thresholds/tables from the op's kernel: with fine output quantizers,
    where the rational and MLAS kernels round to different codes, the integer stage still equals the qrnn stage."""
    from xdsl.parser import Parser

    from lstmc.pipeline import apply_pipeline, make_context

    ir = """
    func.func @main(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
      %q = qrnn.quant %x by <s8, scale = 0.125, zp = 0> : tensor<4xf32>
      %t = qrnn.tanh %q KERNEL : tensor<4xf32>
      %tq = qrnn.quant %t by <s22, scale = 9.5367431640625e-07, zp = 0> : tensor<4xf32>
      %s = qrnn.sigmoid %q KERNEL : tensor<4xf32>
      %sq = qrnn.quant %s by <u21, scale = 9.5367431640625e-07, zp = 0> : tensor<4xf32>
      func.return %tq, %sq : tensor<4xf32>, tensor<4xf32>
    }
    """
    x = {"arg0": (np.arange(-128, 128, dtype=np.float32) * np.float32(0.125)).reshape(64, 4)}
    parse = lambda kernel: Parser(make_context(), ir.replace("KERNEL", kernel)).parse_module()  # noqa: E731
    values = {}
    for kernel in ("", "kernel rational"):
        values[kernel] = run_function(parse(kernel), x)
        for act_impl in ("threshold", "lut"):
            integer = run_function(
                apply_pipeline(parse(kernel), [f"qrnn-legalize-precision{{act-impl={act_impl}}}"]), x
            )
            for k in integer:
                assert np.array_equal(integer[k], values[kernel][k]), (kernel, act_impl, k)
    # the case is sensitive: the two kernels give different codes on some inputs
    assert all(np.any(values[""][k] != values["kernel rational"][k]) for k in values[""])


QCDQ_CASES: dict[str, dict[str, Any]] = {
    "bidirectional": dict(direction="bidirectional", init=True),
    "wider": dict(T=12, I=32, H=64, seed=5),
    "odd_hidden": dict(H=7, direction="bidirectional"),  # 2H, 3H, H not multiples of 4: every column block kind
    "hidden_6": dict(H=6),
    "one_step": dict(T=1, H=5, I=11),  # the x-part GEMM has one row too: M = 1 kernel
    "hidden_150": dict(H=150, T=3, I=12),  # K = 150 > 128: the M = 1 kernel has no K blocking
    "only_R": dict(qcdq="R"),
    "only_W": dict(qcdq="W", T=1),
    "per_channel": dict(per_channel=True, direction="bidirectional"),
    "dequantize_only": dict(dq_only=True, per_channel=True, H=9),
    "no_bias": dict(bias=False, H=10),
}


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
@pytest.mark.parametrize("name", sorted(QCDQ_CASES))
def test_qcdq_weights_qrnn_equals_onnxruntime_bit_for_bit(kind, name):
    """Weights that DequantizeLinear computes at run time are not pre-packed: onnxruntime's one-row GEMMs by them
    run MLAS' M = 1 transposed-B kernel (qrnn.matmul kernel m1_transb). Breaks if that kernel's lane/column
    reduction order changes, or a product by run-time weights is split per gate."""
    kw = dict(QCDQ_CASES[name])
    kw.setdefault("qcdq", True)
    assert_bit_exact(make_rnn(kind, **kw), label=f"{kind} {name}")


@pytest.mark.parametrize("lbr", [0, 1])
def test_qcdq_gru_linear_before_reset_bit_for_bit(lbr):
    cases: list[dict[str, Any]] = [
        dict(H=7, direction="bidirectional"),
        dict(H=6, bias=False, init=True),
        dict(H=5, T=1),
    ]
    for kw in cases:
        assert_bit_exact(make_rnn("GRU", qcdq=True, lbr=lbr, **kw), label=f"lbr={lbr} {kw}")


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_qcdq_weights_keep_their_quantizers(kind):
    """Every weight constant keeps the weight quantizer; the QCDQ of the whole [D, G*H, K] tensor is gone from the
    main graph. x-part (T > 1): per-gate [I, H] constants; h-part: one constant per onnxruntime GEMM by R."""
    model = make_rnn(kind, direction="bidirectional", qcdq=True)
    text = str(import_model(model))
    G = 4 if kind == "LSTM" else 3
    h_gemms = 1 if kind == "LSTM" else 2  # LSTM: R[iofc]; GRU: R[zr] and R[h]
    assert text.count("by <s8, scale = 0.0625, zp = 0>") == 2 * (G + h_gemms)
    assert text.count("kernel m1_transb") == 2 * h_gemms
    assert "qrnn.quant" not in text.split("qrnn.recurrence")[0]


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_prepacked_weights_use_the_matrix_kernel(kind):
    """Initializer weights, and a QONNX Quant of one (lstmc's reference folds it into an initializer), are
    pre-packed by onnxruntime: no M = 1 kernel in the IR, even for T = 1, and still bit for bit."""
    model = make_rnn(kind, direction="bidirectional", T=1)
    assert "kernel m1_transb" not in str(import_model(model))
    graph = model.graph
    for name in ("W", "R"):
        init = next(i for i in graph.initializer if i.name == name)
        init.name = name + "_f"
        graph.initializer.extend(
            [
                numpy_helper.from_array(np.array(v, np.float32), f"{name}_{k}")
                for k, v in (("s", 0.0625), ("z", 0.0), ("b", 8.0))
            ]
        )
        graph.node.insert(
            0,
            helper.make_node(
                "Quant",
                [f"{name}_f", f"{name}_s", f"{name}_z", f"{name}_b"],
                [name],
                domain="qonnx.custom_op.general",
                signed=1,
                narrow=0,
            ),
        )
    model.opset_import.append(helper.make_opsetid("qonnx.custom_op.general", 1))
    text = str(import_model(model))
    assert "kernel m1_transb" not in text and "by <s8, scale = 0.0625, zp = 0>" in text
    assert_bit_exact(model, label=kind)


def test_m1_transb_kernel_equals_onnxruntime_gemm_with_run_time_b():
    """numerics.matmul_m1_transb against onnxruntime Gemm(transB = 1) with B a graph input (so not pre-packed),
    M = 1: every K mod 8 (masked last block) and N mod 4 (blocks of 4, 2, 1 columns) at many magnitudes. The
    matrix kernel (sequential FMA) differs, so the test can tell them apart."""
    import onnxruntime as ort

    from lstmc import numerics

    rng = np.random.default_rng(0)
    differs = 0
    for k in (1, 5, 8, 9, 16, 23, 64, 130, 257):
        for n in (1, 2, 3, 4, 5, 6, 7, 13, 34, 35):
            graph = helper.make_graph(
                [helper.make_node("Gemm", ["a", "b"], ["y"], transB=1)],
                "g",
                [
                    helper.make_tensor_value_info("a", TensorProto.FLOAT, [1, k]),
                    helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, k]),
                ],
                [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
            )
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            session = ort.InferenceSession(
                helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]).SerializeToString(),
                so,
                providers=["CPUExecutionProvider"],
            )
            for _ in range(4):
                a = (rng.standard_normal((1, k)) * 10 ** rng.uniform(-3, 3)).astype(np.float32)
                b = rng.standard_normal((n, k)).astype(np.float32)
                (want,) = session.run(None, {"a": a, "b": b})
                assert isinstance(want, np.ndarray)
                got = numerics.matmul(a, np.ascontiguousarray(b.T), kernel="m1_transb")
                assert np.array_equal(got, want), (k, n)
                differs += not np.array_equal(numerics.matmul(np.concatenate([a, 0 * a]), b.T)[:1], want)
    assert differs > 100


def test_m1_transb_kernel_ir_checks_and_batching():
    """The kernel takes one row ([K] or [1, K]) and a [K, N] matrix; batched rows give the per-row results."""
    from xdsl.parser import Parser
    from xdsl.utils.exceptions import VerifyException

    from lstmc.pipeline import make_context

    ir = """
    func.func @main(%x: tensor<XSHAPExf32>) -> tensor<RSHAPExf32> {
      %w = qrnn.constant dense<DATA> : tensor<6x5xf32>
      %y = qrnn.matmul %x, %w kernel m1_transb : (tensor<XSHAPExf32>, tensor<6x5xf32>) -> tensor<RSHAPExf32>
      func.return %y : tensor<RSHAPExf32>
    }
    """
    w = np.random.default_rng(3).standard_normal((6, 5)).astype(np.float32)
    data = "[" + ", ".join("[" + ", ".join(repr(float(v)) for v in row) + "]" for row in w) + "]"
    x = np.random.default_rng(4).standard_normal((7, 6)).astype(np.float32)
    from lstmc import numerics

    want = numerics.matmul_m1_transb(x, w)
    for xs, rs, xin in (("6", "5", x), ("1x6", "1x5", x[:, None, :])):
        module = Parser(
            make_context(), ir.replace("XSHAPE", xs).replace("RSHAPE", rs).replace("DATA", data)
        ).parse_module()
        module.verify()
        got = run_function(module, {"arg0": xin})["result0"]
        assert np.array_equal(got.reshape(7, 5), want)
    bad = Parser(
        make_context(), ir.replace("XSHAPE", "2x6").replace("RSHAPE", "2x5").replace("DATA", data)
    ).parse_module()
    with pytest.raises(
        VerifyException,
        match=r"kernel m1_transb multiplies one row \(\[K\] or \[1, K\]\) by a "
        r"\[K, N\] matrix, got \[2, 6\] and \[6, 5\]",
    ):
        bad.verify()


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

    with pytest.raises(
        LstmcError,
        match=r"qrnn-legalize-precision: 'qrnn.recurrence': carried state 0 is not the "
        r"output of a quantizer; lstmc needs quantized state",
    ):
        lower_to_stage(import_model(make_rnn("LSTM")), "integer")


ERRORS = {
    "peephole": (dict(extra_inputs={7: ("P", np.zeros((1, 24), np.float32))}), r"peephole weights \(input 'P' = 'P'\)"),
    "clip": (dict(clip=3.0), r"attribute 'clip' \(3\) is not supported"),
    "activations": (dict(activations=["Tanh", "Tanh", "Tanh"]), r"attribute 'activations' = \[Tanh, Tanh, Tanh\]"),
    "activation_alpha": (
        dict(activations=["Sigmoid", "Tanh", "Tanh"], activation_alpha=[1.0]),
        r"attribute 'activation_alpha' is not supported",
    ),
    "input_forget": (dict(input_forget=1), r"attribute 'input_forget' = 1"),
    "batch": (dict(batch=2), r"input 'X' \('X'\) has batch size 2"),
    "sequence_lens_value": (
        dict(extra_inputs={4: ("lens", np.array([3], np.int32))}),
        r"input 'sequence_lens' \('lens'\) is \[3\]; lstmc supports only a constant \[6\]",
    ),
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
        hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
        if (lo, hi) != (np.iinfo(dtype).min, np.iinfo(dtype).max):
            q = self.node(
                "Clip", [q, self.const(base + "_lo", dtype(lo)), self.const(base + "_hi", dtype(hi))], base + "_c"
            )
        return self.node("DequantizeLinear", [q, s, z], base + "_dq")


def build_qgru(I=3, H=4, T=6, seed=0, reverse=False):
    rng = np.random.default_rng(seed)
    main, body = _Builder(), _Builder("b_")
    io, acc, sig, tanh, w = (
        (8, True, 2.0**-5),
        (8, True, 2.0**-4),
        (6, False, 2.0**-6),
        (6, True, 2.0**-5),
        (4, True, 0.25),
    )
    x_q = main.quant("X", *io, "x_in")
    h, x_t = body.name("h"), body.name("x_t")

    def pre(inp, g):
        W = body.quant(
            body.const("W" + g, (rng.standard_normal((I, H)) * 0.5).astype(np.float32)), *w, "W" + g, narrow=True
        )
        R = body.quant(
            body.const("R" + g, (rng.standard_normal((H, H)) * 0.5).astype(np.float32)), *w, "R" + g, narrow=True
        )
        b = body.quant(
            body.const("b" + g, (rng.standard_normal(H) * 0.3).astype(np.float32)), 8, True, 2.0**-5, "b" + g
        )
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

    def vi(n, s):
        return helper.make_tensor_value_info(n, TensorProto.FLOAT, s)

    graph = helper.make_graph(
        body.nodes, "gru_body", [vi(h, [H]), vi(x_t, [I])], [vi(h_new, [H]), vi(h_out, [H])], initializer=body.inits
    )
    h0 = main.const("h0", np.zeros(H, np.float32))
    d = int(reverse)
    main.nodes.append(
        helper.make_node(
            "Scan",
            [h0, x_q],
            ["h_n", "Y"],
            name="gru",
            body=graph,
            num_scan_inputs=1,
            scan_input_directions=[d],
            scan_output_directions=[d],
        )
    )
    g = helper.make_graph(
        main.nodes, "qgru", [vi("X", [T, I])], [vi("Y", [T, H]), vi("h_n", [H])], initializer=main.inits
    )
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
