"""`lstmc quantize`: post-training quantization of float ONNX LSTM and GRU nodes into the Scan/QCDQ format.

Properties (float models built here with onnx.helper; no torch):
- the quantized model is a drop-in replacement: same graph inputs, same output names and shapes (Y [T, D, 1, H],
  Y_h / Y_c [D, 1, H]) for forward, reverse and bidirectional LSTMs and GRUs (linear_before_reset 0 and 1),
  with and without bias / initial states, and for stacked LSTM/GRU nodes with other nodes between them;
- the verification contract holds on what it writes: the qrnn stage equals the onnxruntime reference bit for
  bit, the integer and dataflow stages equal each other bit for bit, and with `power_of_two` the integer stage
  equals the reference bit for bit (whole arrays compared);
- it stays close to the float model (SQNR bounds measured below) and fewer weight bits give a lower SQNR;
- the report's numbers are what numpy computes from the two models' onnxruntime outputs (and targets);
- every product of the GRU cell is quantized before it is summed (as the LSTM cell's are);
- the config is validated key by key, and out-of-scope models (RNN, peepholes, clip, layout 1, batch 2,
  sequence_lens, non-default activations; for GRUs too) give one LstmcError naming the node and the attribute;
- the CLI writes nothing on error (one line `lstmc: error: ...`, exit 1), and `lstmc verify` passes on its output.
"""

import json
import math
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lstmc.errors import LstmcError
from lstmc.quantize import CONFIG_KEYS, QuantConfig, parse_config, quantize_model, sqnr_db
from lstmc.reference import run_reference
from lstmc.stages import run_stage

BIN = Path(sys.executable).parent
EIGHT = dict(weight_bits=8, io_bits=8, acc_bits=8, sigmoid_bits=8, tanh_bits=8, cell_state_bits=8)
CONFIGS = {"int8": EIGHT, "w4": dict(weight_bits=4), "po2": dict(power_of_two=True), "default": {}}


def float_lstm(
    direction="forward",
    T=8,
    I=4,
    H=8,
    seed=0,
    bias=True,
    init=False,
    kind="LSTM",
    batch=1,
    extra_inputs=None,
    opset=17,
    **attrs,
):
    """A float ONNX LSTM (or GRU) node model, weights random normal * 0.5 (like test_onnx_rnn.make_rnn)."""
    rng = np.random.default_rng(seed)
    D = 2 if direction == "bidirectional" else 1
    G = 4 if kind == "LSTM" else 3
    arrays = {
        "W": rng.standard_normal((D, G * H, I)),
        "R": rng.standard_normal((D, G * H, H)),
        "B": rng.standard_normal((D, 2 * G * H)) * 0.6,
    }
    inits = [numpy_helper.from_array((a * 0.5).astype(np.float32), n) for n, a in arrays.items()]
    inputs = ["X", "W", "R", "B" if bias else ""]
    if init:
        states = ("h0", "c0") if kind == "LSTM" else ("h0",)
        inputs += ["", *states]
        inits += [
            numpy_helper.from_array((rng.standard_normal((D, batch, H)) * 0.5).astype(np.float32), n) for n in states
        ]
    for index, (name, array) in (extra_inputs or {}).items():
        inputs += [""] * (index + 1 - len(inputs))
        inputs[index] = name
        inits.append(numpy_helper.from_array(array, name))
    outputs = ["Y", "Y_h"] + (["Y_c"] if kind == "LSTM" else [])
    node = helper.make_node(kind, inputs, outputs, name="rnn", hidden_size=H, direction=direction, **attrs)
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s))  # noqa: E731
    graph = helper.make_graph(
        [node],
        "rnn",
        [vi("X", (T, batch, I))],
        [vi("Y", (T, D, batch, H))] + [vi(o, (D, batch, H)) for o in outputs[1:]],
        initializer=inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def stacked_lstm(T=7, I=3, H=6, seed=1, kinds=("LSTM", "LSTM")):
    """LSTM (run-time initial_h) -> Squeeze -> reverse LSTM: two nodes, another op between them (either may
    be a GRU instead: ``kinds``)."""
    rng = np.random.default_rng(seed)
    w = lambda *s: (rng.standard_normal(s) * 0.5).astype(np.float32)  # noqa: E731
    G1, G2 = (4 if k == "LSTM" else 3 for k in kinds)
    inits = [
        numpy_helper.from_array(a, n)
        for n, a in [
            ("W1", w(1, G1 * H, I)),
            ("R1", w(1, G1 * H, H)),
            ("B1", w(1, 2 * G1 * H)),
            ("W2", w(1, G2 * H, H)),
            ("R2", w(1, G2 * H, H)),
            ("B2", w(1, 2 * G2 * H)),
            ("axis1", np.array([1], np.int64)),
        ]
    ]
    nodes = [
        helper.make_node(kinds[0], ["X", "W1", "R1", "B1", "", "h0"], ["Y1"], name="l1", hidden_size=H),
        helper.make_node("Squeeze", ["Y1", "axis1"], ["Y1s"], name="squeeze"),
        helper.make_node(
            kinds[1], ["Y1s", "W2", "R2", "B2"], ["Y", "Y_h"], name="l2", hidden_size=H, direction="reverse"
        ),
    ]
    vi = lambda n, s: helper.make_tensor_value_info(n, TensorProto.FLOAT, s)  # noqa: E731
    graph = helper.make_graph(
        nodes,
        "stack",
        [vi("X", [T, 1, I]), vi("h0", [1, 1, H])],
        [vi("Y", [T, 1, 1, H]), vi("Y_h", [1, 1, H])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    data = {
        "X": rng.standard_normal((5, T, 1, I)).astype(np.float32),
        "h0": (rng.standard_normal((5, 1, 1, H)) * 0.3).astype(np.float32),
    }
    return model, data


def calibration(model, n=6, seed=0) -> dict[str, Any]:  # any type: savez's `allow_pickle` is a keyword
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    return {"X": np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)}


CASES = {
    "forward": dict(),
    "reverse": dict(direction="reverse"),
    "bidirectional_init": dict(direction="bidirectional", init=True),
    "no_bias": dict(bias=False, seed=2),
    "gru_forward": dict(kind="GRU"),
    "gru_reverse_lbr": dict(kind="GRU", direction="reverse", linear_before_reset=1, seed=3),
    "gru_bidirectional_init": dict(kind="GRU", direction="bidirectional", init=True),
    "gru_bidirectional_init_lbr": dict(kind="GRU", direction="bidirectional", init=True, linear_before_reset=1),
    "gru_no_bias_lbr": dict(kind="GRU", bias=False, linear_before_reset=1, seed=2),
}


@lru_cache(maxsize=None)
def quantized(case: str, config: str):
    model = float_lstm(**CASES[case])
    data = calibration(model)
    q, report = quantize_model(model, data, CONFIGS[config])
    return model, data, q, report


def shapes(model):
    return {o.name: [d.dim_value for d in o.type.tensor_type.shape.dim] for o in model.graph.output}


def assert_equal_arrays(a, b, what):
    assert set(a) == set(b), what
    for k in a:
        assert a[k].shape == b[k].shape, f"{what}: {k}"
        assert np.array_equal(a[k], b[k]), f"{what}: {k} differs in {int(np.sum(a[k] != b[k]))} elements"


# ------------------------------------------------------------------------------------------------ contract
@pytest.mark.parametrize(
    "case,config",
    [(c, k) for c in CASES for k in ("int8", "po2")]
    + [
        ("bidirectional_init", "w4"),
        ("forward", "default"),
        ("gru_bidirectional_init_lbr", "w4"),
        ("gru_forward", "default"),
        ("gru_reverse_lbr", "default"),
    ],
)
def test_stages_bit_exact(case, config):
    model, data, q, _ = quantized(case, config)
    # (a) a drop-in replacement: same inputs, same output names and shapes
    assert [i.name for i in q.graph.input] == [i.name for i in model.graph.input]
    assert shapes(q) == shapes(model)
    assert not any(n.op_type in ("LSTM", "GRU") for n in q.graph.node)
    ref = run_stage("reference", q, data)
    assert {k: list(v.shape[1:]) for k, v in ref.items()} == shapes(model)
    # (b) qrnn == onnxruntime, (c) integer == dataflow, and == reference with power-of-two scales
    assert_equal_arrays(run_stage("qrnn", q, data), ref, "qrnn vs reference")
    integer = run_stage("integer", q, data)
    assert_equal_arrays(run_stage("dataflow", q, data), integer, "dataflow vs integer")
    if config == "po2":
        assert_equal_arrays(integer, ref, "integer vs reference (power-of-two scales)")


def test_power_of_two_scales_and_opsets():
    _, _, q, _ = quantized("bidirectional_init", "po2")
    scales = []

    def visit(graph):
        inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                scales.extend(np.asarray(inits[node.input[1]], np.float64).reshape(-1))
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    visit(attr.g)

    visit(q.graph)
    assert len(scales) > 50
    mant = np.frexp(np.array(scales))[0]
    assert np.all(mant == 0.5), "every scale (biases included) is a power of two"
    opset = lambda m: next(o.version for o in m.opset_import if o.domain == "")  # noqa: E731
    assert opset(quantized("forward", "int8")[2]) == 19  # 8-bit everything: opset 19 suffices
    assert opset(quantized("forward", "default")[2]) == 21  # 16-bit acc/cell state: int16 QuantizeLinear
    assert opset(quantized("forward", "int8")[0]) == 17  # the input model is not modified


def test_stacked_lstms_with_node_overrides():
    model, data = stacked_lstm()
    q, report = quantize_model(model, data, {"nodes": {"l2": {"io_bits": 6, "power_of_two": True}}})
    assert shapes(q) == shapes(model) and [i.name for i in q.graph.input] == ["X", "h0"]
    assert "squeeze" in [n.name for n in q.graph.node]  # other nodes are kept as they are
    assert {n for n in (i.name for i in q.graph.initializer)} & {"W1", "R1", "B1", "W2", "R2", "B2"} == set()
    assert report.nodes["l1"]["x"].startswith("8b") and report.nodes["l2"]["x"].startswith("6b")
    assert "power-of-two" in report.nodes["l2"]["calibration"] and "power" not in report.nodes["l1"]["calibration"]
    ref = run_stage("reference", q, data)
    assert_equal_arrays(run_stage("qrnn", q, data), ref, "qrnn vs reference")
    assert_equal_arrays(run_stage("dataflow", q, data), run_stage("integer", q, data), "dataflow vs integer")


def test_stacked_gru_and_lstm():
    """A GRU with a run-time initial_h feeding a reverse LSTM, the GRU overridden to power-of-two scales."""
    model, data = stacked_lstm(kinds=("GRU", "LSTM"))
    q, report = quantize_model(model, data, {"cell_state_bits": 8, "nodes": {"l1": {"power_of_two": True}}})
    assert shapes(q) == shapes(model) and [i.name for i in q.graph.input] == ["X", "h0"]
    assert "products" in report.nodes["l1"] and "c" in report.nodes["l2"]
    assert report.nodes["l1"]["products"].startswith("8b") and report.nodes["l2"]["c"].startswith("8b")
    ref = run_stage("reference", q, data)
    assert_equal_arrays(run_stage("qrnn", q, data), ref, "qrnn vs reference")
    assert_equal_arrays(run_stage("dataflow", q, data), run_stage("integer", q, data), "dataflow vs integer")
    assert report.output("Y").sqnr_db > 25


def _scan_bodies(model):
    return [a.g for n in model.graph.node if n.op_type == "Scan" for a in n.attribute if a.name == "body"]


@pytest.mark.parametrize("case", ["gru_forward", "gru_reverse_lbr"])
def test_gru_cell_quantizes_every_product_before_summing(case):
    """The GRU body (scan_gru.gru_body): every Mul (r * h or r * q(h Rh + Rb_h), (1 - z) * n, z * h) and every
    accumulator and activation feeds a QuantizeLinear; the new h is quantized, and 1 - z is the only
    unquantized arithmetic result."""
    _, _, q, _ = quantized(case, "int8")
    (body,) = _scan_bodies(q)
    consumers = {}
    for node in body.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node.op_type)
    ops = [n.op_type for n in body.node]
    lbr = "lbr" in case
    assert ops.count("Sigmoid") == 2 and ops.count("Tanh") == 1 and ops.count("Mul") == 3 and ops.count("Sub") == 1
    assert ops.count("MatMul") == 6 and ops.count("QuantizeLinear") == 6 + 2 * 3 + 3 + 1 + (2 if lbr else 0)
    for node in body.node:
        out = node.output[0]
        if node.op_type in ("Mul", "Sigmoid", "Tanh"):
            assert consumers[out] == ["QuantizeLinear"], (node.op_type, consumers[out])
        if node.op_type == "Sub":
            assert sorted(consumers[out]) == ["Mul"]
    sums = [n for n in body.node if n.op_type == "Add" and consumers[n.output[0]] == ["QuantizeLinear"]]
    assert len(sums) == 3 + 1 + (2 if lbr else 0)  # z, r, n accumulators, h' (+ x Wh + Wb_h, h Rh + Rb_h)


# ------------------------------------------------------------------------------------------------ accuracy
# Measured on the bidirectional model below (T 12, I 5, H 16, 8 sequences): SQNR of Y 35.3 dB (default), 30.7 dB
# (8-bit everything), 32.0 dB (power of two), 20.5 dB (4-bit per-channel weights), 14.5 dB (4-bit per tensor),
# 4.6 dB (2-bit weights). The bounds leave a few dB of margin.
SQNR_MODEL = dict(direction="bidirectional", T=12, I=5, H=16, seed=7)


@lru_cache(maxsize=None)
def sqnr_of(config_json: str, model_json: str = "{}") -> float:
    model = float_lstm(**{**SQNR_MODEL, **json.loads(model_json)})
    _, report = quantize_model(model, calibration(model, n=8, seed=1), json.loads(config_json))
    return report.output("Y").sqnr_db


def sqnr(model=None, **config) -> float:
    """SQNR of Y on SQNR_MODEL (``model``: overrides of float_lstm's arguments, e.g. a GRU) under ``config``."""
    return sqnr_of(json.dumps(config, sort_keys=True), json.dumps(model or {}, sort_keys=True))


def test_sqnr_bounds_and_ordering():
    assert sqnr() > 30
    assert sqnr(**EIGHT) > 25
    assert sqnr(power_of_two=True) > 25
    assert sqnr(weight_bits=4) > 15
    w = [sqnr(weight_bits=b) for b in (8, 6, 4, 3, 2)]
    assert all(a > b for a, b in zip(w, w[1:])), w
    assert sqnr(weight_bits=4) > sqnr(weight_bits=4, weight_per_channel=False)
    assert sqnr(io_bits=4, sigmoid_bits=4, tanh_bits=4) < sqnr(io_bits=6, sigmoid_bits=6, tanh_bits=6) < sqnr()


# The same bidirectional model as a GRU, SQNR of Y in dB for linear_before_reset 0 / 1: 36.7 / 36.9 (default),
# 32.5 / 31.1 (8-bit everything), 32.6 / 34.0 (power of two), 31.4 / 31.3 (6-bit weights), 19.2 / 18.9 (4-bit
# per-channel weights), 16.2 / 15.6 (4-bit per tensor), 14.3 / 13.1 (3-bit), 3.8 / 3.4 (2-bit), 25.3 / 25.1
# (6-bit io/sigmoid/tanh), 12.5 / 12.8 (4-bit io/sigmoid/tanh), 34.7 / 34.7 (8-bit products: cell_state_bits 8).
@pytest.mark.parametrize("lbr", [0, 1], ids=["lbr0", "lbr1"])
def test_gru_sqnr_bounds_and_ordering(lbr):
    gru = dict(kind="GRU", linear_before_reset=lbr)
    assert sqnr(gru) > 32
    assert sqnr(gru, **EIGHT) > 27
    assert sqnr(gru, power_of_two=True) > 27
    assert sqnr(gru, weight_bits=4) > 15
    w = [sqnr(gru, weight_bits=b) for b in (8, 6, 4, 3, 2)]
    assert all(a > b for a, b in zip(w, w[1:])), w
    assert sqnr(gru, weight_bits=4) > sqnr(gru, weight_bits=4, weight_per_channel=False)
    assert (
        sqnr(gru, io_bits=4, sigmoid_bits=4, tanh_bits=4)
        < sqnr(gru, io_bits=6, sigmoid_bits=6, tanh_bits=6)
        < sqnr(gru)
    )
    assert sqnr(gru, cell_state_bits=8) < sqnr(gru)  # cell_state_bits: the width of the GRU's state products


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_report_matches_numpy_and_targets(kind):
    model = float_lstm(direction="reverse", init=True, seed=4, kind=kind)
    data = calibration(model, n=5, seed=3)
    data["Y_h"] = np.random.default_rng(9).standard_normal((5, 1, 1, 8)).astype(np.float32) * 0.3  # targets
    q, report = quantize_model(model, data, EIGHT)
    f, g = run_reference(model, data), run_reference(q, data)
    names = ["Y", "Y_h"] + (["Y_c"] if kind == "LSTM" else [])
    assert report.sequences == 5 and [o.name for o in report.outputs] == names
    for row in report.outputs:
        err = np.abs(g[row.name].astype(np.float64) - f[row.name])
        assert row.max_abs_error == pytest.approx(err.max()) and row.mean_abs_error == pytest.approx(err.mean())
        noise = np.sum((g[row.name].astype(np.float64) - f[row.name]) ** 2)
        assert row.sqnr_db == pytest.approx(10 * math.log10(np.sum(f[row.name].astype(np.float64) ** 2) / noise))
    row = report.output("Y_h")
    assert row.mse_float == pytest.approx(np.mean((f["Y_h"].astype(np.float64) - data["Y_h"]) ** 2))
    assert row.mse_quantized == pytest.approx(np.mean((g["Y_h"].astype(np.float64) - data["Y_h"]) ** 2))
    assert report.output("Y").mse_float is None
    text = report.format()
    assert "SQNR dB" in text and "MSE float" in text and "MSE quant" in text
    assert sqnr_db(f["Y"], f["Y"]) == math.inf


def test_percentile_unbatched_and_wide_quantizers():
    model = float_lstm(seed=5)
    data = calibration(model, n=4)
    _, by_max = quantize_model(model, data)
    _, by_pct = quantize_model(model, data, {"calibration": "percentile:99"})
    scale = lambda r, key: float(r.nodes["rnn"][key].split("s=")[1])  # noqa: E731
    assert scale(by_pct, "x") < scale(by_max, "x")
    # one unbatched sequence is accepted, like `lstmc run --inputs`
    q, report = quantize_model(model, {"X": data["X"][0]}, EIGHT)
    assert report.sequences == 1
    # a 12-bit accumulator needs an int16 Clip, which onnxruntime lacks: the report uses the qrnn stage, and the
    # compiled levels still agree
    q, report = quantize_model(model, data, {"acc_bits": 12})
    assert report.quantized_source == "qrnn" and report.output("Y").sqnr_db > 25
    assert_equal_arrays(run_stage("dataflow", q, data), run_stage("integer", q, data), "dataflow vs integer")


def test_old_opset_model_is_converted():
    model = float_lstm(opset=7)
    model.ir_version = 7
    q, report = quantize_model(model, calibration(model, n=3), EIGHT)
    assert next(o.version for o in q.opset_import if o.domain == "") == 19
    data = calibration(model, n=3)
    assert_equal_arrays(run_stage("qrnn", q, data), run_stage("reference", q, data), "qrnn vs reference")


# ------------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    "config,pattern",
    [
        ({"wieght_bits": 4}, r"config key 'wieght_bits' is unknown"),
        ({"weight_bits": 17}, r"config key 'weight_bits' must be an integer number of bits in 2\.\.16.*got 17"),
        ({"io_bits": 1}, r"config key 'io_bits' must be .* 2\.\.16.*got 1"),
        ({"acc_bits": 8.0}, r"config key 'acc_bits' must be an integer"),
        ({"tanh_bits": True}, r"config key 'tanh_bits' must be an integer"),
        ({"power_of_two": "yes"}, r"config key 'power_of_two' must be true or false"),
        ({"calibration": "percentile:0"}, r"config key 'calibration' must be \"max\" or \"percentile:P\""),
        ({"calibration": "minmax"}, r"config key 'calibration'"),
        (
            {"nodes": {"other": {}}},
            r"config key 'nodes': 'other' is not an LSTM or GRU node of the model \(LSTM/GRU nodes: 'rnn'\)",
        ),
        ({"nodes": {"rnn": {"sigmoid_bits": 20}}}, r"config key 'nodes.rnn': key 'sigmoid_bits' must be"),
        ({"nodes": {"rnn": {"nodes": {}}}}, r"'nodes' cannot be nested"),
        ({"nodes": []}, r"config key 'nodes' must be an object"),
    ],
)
def test_config_errors(config, pattern):
    with pytest.raises(LstmcError, match=pattern) as e:
        parse_config(config, ["rnn"])
    assert "\n" not in str(e.value)


def test_config_defaults():
    assert parse_config({}, ["a"])["a"] == QuantConfig()
    assert QuantConfig() == QuantConfig(8, True, 8, 16, 8, 8, 16, "max", False)
    assert set(CONFIG_KEYS) == {
        "weight_bits",
        "weight_per_channel",
        "io_bits",
        "acc_bits",
        "sigmoid_bits",
        "tanh_bits",
        "cell_state_bits",
        "calibration",
        "power_of_two",
    }
    per_node = parse_config(
        {"weight_bits": 6, "nodes": {"b": {"weight_bits": 3, "calibration": "percentile:99.99"}}}, ["a", "b"]
    )
    assert per_node["a"].weight_bits == 6 and per_node["b"].weight_bits == 3
    assert per_node["b"].percentile == 99.99 and per_node["a"].percentile is None


@pytest.mark.parametrize(
    "model,pattern",
    [
        (dict(kind="RNN"), r"node 'rnn' \(RNN\): RNN is not supported yet by lstmc quantize \(only LSTM and GRU"),
        (dict(extra_inputs={7: ("P", np.zeros((1, 24), np.float32))}), r"node 'rnn' \(LSTM\): input 'P' .*peephole"),
        (dict(clip=3.0), r"node 'rnn' \(LSTM\): attribute 'clip'"),
        (dict(input_forget=1), r"node 'rnn' \(LSTM\): attribute 'input_forget'"),
        (dict(activations=["Sigmoid", "Tanh", "Relu"]), r"node 'rnn' \(LSTM\): attribute 'activations'"),
        (dict(layout=1), r"node 'rnn' \(LSTM\): attribute 'layout' = 1"),
        (dict(batch=2), r"node 'rnn' \(LSTM\): input 'X' .* batch size 2"),
        (dict(extra_inputs={4: ("seq", np.array([8], np.int32))}), r"node 'rnn' \(LSTM\): input 'sequence_lens'"),
        (dict(kind="GRU", clip=3.0), r"node 'rnn' \(GRU\): attribute 'clip'"),
        (
            dict(kind="GRU", activations=["Sigmoid", "Relu"]),
            r"node 'rnn' \(GRU\): attribute 'activations' = "
            r"\[Sigmoid, Relu\] is not supported",
        ),
        (dict(kind="GRU", layout=1), r"node 'rnn' \(GRU\): attribute 'layout' = 1"),
        (dict(kind="GRU", batch=2), r"node 'rnn' \(GRU\): input 'X' .* batch size 2"),
        (
            dict(kind="GRU", extra_inputs={4: ("seq", np.array([8], np.int32))}),
            r"node 'rnn' \(GRU\): input 'sequence_lens'",
        ),
        (dict(kind="GRU", linear_before_reset=2), r"node 'rnn' \(GRU\): attribute 'linear_before_reset' = 2"),
        (dict(kind="GRU", input_forget=1), r"node 'rnn' \(GRU\): attribute 'input_forget' is not a GRU attribute"),
    ],
    ids=[
        "rnn",
        "peephole",
        "clip",
        "input_forget",
        "activations",
        "layout",
        "batch",
        "sequence_lens",
        "gru_clip",
        "gru_activations",
        "gru_layout",
        "gru_batch",
        "gru_sequence_lens",
        "gru_lbr2",
        "gru_input_forget",
    ],
)
def test_out_of_scope_models(model, pattern):
    m = float_lstm(**model)
    data = {"X": np.zeros((2, 8, 1, 4), np.float32)}
    with pytest.raises(LstmcError, match=pattern) as e:
        quantize_model(m, data, {})
    assert "\n" not in str(e.value)


def test_calibration_data_errors():
    model = float_lstm()
    with pytest.raises(LstmcError, match=r"calibration data has no array 'X'"):
        quantize_model(model, {"Z": np.zeros((2, 8, 1, 4), np.float32)})
    with pytest.raises(LstmcError, match=r"calibration array 'X' has shape \[2, 8, 2, 4\]"):
        quantize_model(model, {"X": np.zeros((2, 8, 2, 4), np.float32)})


# ------------------------------------------------------------------------------------------------ CLI
def lstmc(*args, cwd):
    return subprocess.run([str(BIN / "lstmc"), *map(str, args)], capture_output=True, text=True, cwd=cwd)


@pytest.mark.parametrize("kind", [dict(kind="LSTM"), dict(kind="GRU", linear_before_reset=1)], ids=["lstm", "gru"])
def test_cli_quantize_then_verify(tmp_path, kind):
    model = float_lstm(direction="bidirectional", T=6, I=3, H=4, init=True, seed=11, **kind)
    onnx.save(model, tmp_path / "float.onnx")
    data = calibration(model, n=4)
    data["Y"] = np.zeros((4, 6, 2, 1, 4), np.float32)  # a target: the report gains MSE columns
    np.savez(tmp_path / "data.npz", **data)
    (tmp_path / "q.json").write_text(json.dumps({"weight_bits": 6, "nodes": {"rnn": {"acc_bits": 8}}}))
    r = lstmc(
        "quantize", "float.onnx", "--calibration", "data.npz", "--config", "q.json", "-o", "out.onnx", cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert re.search(r"^Y\s+\S+\s+\S+\s+\d+\.\d+\s+\S+\s+\S+", r.stdout, re.M), r.stdout
    assert "SQNR dB" in r.stdout and "MSE float" in r.stdout and "wrote out.onnx" in r.stdout
    q = onnx.load(tmp_path / "out.onnx")
    assert shapes(q) == shapes(model)
    v = lstmc("verify", "out.onnx", "--inputs", "data.npz", cwd=tmp_path)
    assert v.returncode == 0, v.stdout + v.stderr
    assert "all stages meet the contract" in v.stdout and "csim" in v.stdout


@pytest.mark.parametrize(
    "setup,pattern",
    [
        ("unknown_key", r"config key 'bits' is unknown"),
        ("bits", r"config key 'weight_bits' must be an integer number of bits in 2\.\.16"),
        ("rnn", r"node 'rnn' \(RNN\): RNN is not supported yet by lstmc quantize"),
        ("peephole", r"node 'rnn' \(LSTM\): input 'P'"),
        ("bad_json", r"q\.json: not valid JSON"),
    ],
)
def test_cli_errors_write_nothing(tmp_path, setup, pattern):
    kinds = {"rnn": dict(kind="RNN"), "peephole": dict(extra_inputs={7: ("P", np.zeros((1, 24), np.float32))})}
    model = float_lstm(**kinds.get(setup, {}))
    onnx.save(model, tmp_path / "float.onnx")
    np.savez(tmp_path / "data.npz", **calibration(model, n=2))
    config = {"unknown_key": '{"bits": 4}', "bits": '{"weight_bits": 0}', "bad_json": "{weight_bits: 4"}
    (tmp_path / "q.json").write_text(config.get(setup, "{}"))
    r = lstmc(
        "quantize", "float.onnx", "--calibration", "data.npz", "--config", "q.json", "-o", "out.onnx", cwd=tmp_path
    )
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstmc: error: "), r.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert "Traceback" not in r.stderr and not (tmp_path / "out.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.npz", "float.onnx", "q.json"]  # no temp file left
