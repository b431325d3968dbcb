"""Hostile and careless models: lstmc computes what onnxruntime computes, or refuses in one line.

Properties: `numerics.quantize` saturates non-finite and huge inputs exactly like onnxruntime's QuantizeLinear
(whole outputs compared); a model that breaks the ONNX spec or that lstmc would silently compute differently
from onnxruntime is refused by `lstmc import` with exit status 1 and one `lstmc: error:` line naming the node or
value. Each model is a shipped fixture with one mutation.
"""

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import FIXTURES
from onnx import TensorProto, helper, numpy_helper

from lstmc import numerics
from lstmc.cli import main

# ------------------------------------------------------------------------------------------------------------
# numerics.quantize vs onnxruntime's QuantizeLinear on non-finite and huge values
# ------------------------------------------------------------------------------------------------------------

_SPECIAL = np.array(
    [
        np.nan,
        -np.nan,
        np.inf,
        -np.inf,
        1e20,
        -1e20,
        3e9,
        -3e9,
        9.3e18,
        -9.3e18,
        3.4e38,
        -3.4e38,
        2.5,
        -2.5,
        0.0,
        -0.0,
        126.5,
        -127.5,
        1e-30,
    ],
    np.float32,
)


def _ort_codes(
    x: np.ndarray, dtype: int, scale: np.ndarray, zp: np.ndarray, axis: int | None, clip: tuple[int, int] | None
) -> np.ndarray:
    """onnxruntime's QuantizeLinear [-> Clip] codes of x, read back exactly through DequantizeLinear(1, 0)."""
    kw: dict[str, Any] = {} if axis is None else {"axis": axis}
    nodes = [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"], **kw)]
    inits = [
        numpy_helper.from_array(scale, "s"),
        helper.make_tensor("z", dtype, list(zp.shape), zp.reshape(-1).tolist()),
        helper.make_tensor("z0", dtype, [], [0]),
        numpy_helper.from_array(np.array(1, np.float32), "one"),
    ]
    last = "q"
    if clip is not None:
        inits += [helper.make_tensor("lo", dtype, [], [clip[0]]), helper.make_tensor("hi", dtype, [], [clip[1]])]
        nodes.append(helper.make_node("Clip", ["q", "lo", "hi"], ["c"]))
        last = "c"
    nodes.append(helper.make_node("DequantizeLinear", [last, "one", "z0"], ["y"]))
    graph = helper.make_graph(
        nodes,
        "q",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(x.shape))],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    assert isinstance(y, np.ndarray)
    return y.astype(np.int64)


# (ONNX type, bits, signed, narrow, zero point, Clip to the narrower range)
_QUANTIZERS = [
    (TensorProto.INT8, 8, True, False, 3, None),
    (TensorProto.INT8, 8, True, True, -5, (-127, 127)),
    (TensorProto.INT8, 4, True, False, 0, (-8, 7)),
    (TensorProto.UINT8, 8, False, False, 7, None),
    (TensorProto.UINT8, 5, False, False, 2, (0, 31)),
    (TensorProto.INT16, 16, True, False, -9, None),
    (TensorProto.UINT16, 16, False, False, 0, None),
    (TensorProto.INT4, 4, True, False, 1, None),
    (TensorProto.UINT4, 4, False, False, 0, None),
]


@pytest.mark.parametrize("dtype,bits,signed,narrow,zp,clip", _QUANTIZERS)
def test_quantize_saturates_like_quantize_linear(dtype, bits, signed, narrow, zp, clip):
    rng = np.random.default_rng(bits)
    x = np.concatenate([_SPECIAL, (rng.standard_normal(45) * 200).astype(np.float32)])
    for scale in (np.float32(0.37), np.float32(2.0**-120)):  # a tiny scale overflows x / s to inf
        q = numerics.QuantParams(bits, signed, narrow, (float(scale),), (zp,))
        want = _ort_codes(x, dtype, np.array(scale), np.array(zp), None, clip)
        assert np.array_equal(numerics.quantize(x, q), want)
    # per channel (axis 1 of [N, 4]), batched like the interpreter runs it
    scales = np.array([0.5, 1e-3, 7.0, 2.0**-126], np.float32)
    zps = np.array([zp, 0, zp, 0], np.int64)
    xc = x[: (x.size // 4) * 4].reshape(-1, 4)
    want = _ort_codes(xc, dtype, scales, zps, 1, clip)
    q = numerics.QuantParams(bits, signed, narrow, tuple(scales.tolist()), tuple(zps.tolist()), axis=1)
    assert np.array_equal(numerics.quantize(xc, q), want)
    assert np.array_equal(numerics.quantize(np.stack([xc, xc[::-1]]), q, batched=True), np.stack([want, want[::-1]]))


# ------------------------------------------------------------------------------------------------------------
# Models lstmc must refuse: one fixture, one mutation
# ------------------------------------------------------------------------------------------------------------


def _load(name: str) -> onnx.ModelProto:
    return onnx.load(FIXTURES / name)


def _body(model: onnx.ModelProto, index: int = 0) -> onnx.GraphProto:
    return [n for n in model.graph.node if n.op_type == "Scan"][index].attribute[0].g


def _node(graph: onnx.GraphProto, name: str) -> onnx.NodeProto:
    return next(n for n in graph.node if n.name == name)


def _set(graph: onnx.GraphProto, name: str, value: np.ndarray, undeclare: bool = False) -> None:
    """Replace an initializer's value (and drop its value_info, which would no longer agree, if asked)."""
    init = next(i for i in graph.initializer if i.name == name)
    init.CopyFrom(numpy_helper.from_array(np.asarray(value), name))
    if undeclare:
        for info in [v for v in graph.value_info if v.name == name]:
            graph.value_info.remove(info)


def _attr(node: onnx.NodeProto, name: str) -> onnx.AttributeProto:
    return next(a for a in node.attribute if a.name == name)


def _import(model: onnx.ModelProto, tmp_path: Path, capsys) -> tuple[int, str]:
    path = tmp_path / "mutant.onnx"
    onnx.save(model, path)
    capsys.readouterr()
    status = main(["import", str(path), "-o", str(tmp_path / "out.mlir")])
    return status, capsys.readouterr().err


def assert_refused(model: onnx.ModelProto, tmp_path: Path, capsys, *fragments: str) -> None:
    status, err = _import(model, tmp_path, capsys)
    lines = err.strip().splitlines()
    assert status == 1 and len(lines) == 1 and lines[0].startswith("lstmc: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "out.mlir").exists()


W8 = "l1_w8_float.onnx"
BIAS_DQ, BIAS_CODES, BIAS_ZP = "l0_fwd_DequantizeLinear_33", "l0_fwd_b_input_29", "l0_fwd_b_input_zp_31"
ACC_Q, ACC_SCALE, ACC_ZP = "l0_fwd_QuantizeLinear_39", "l0_fwd_input_acc_scale_36", "l0_fwd_input_acc_zp_37"


def test_int32_zero_point_that_wraps_in_onnxruntime_is_refused(tmp_path, capsys):
    """onnxruntime computes code - zero point in int32: with INT32_MIN it wraps (verify showed 109 LSB off)."""
    model = _load(W8)
    _set(_body(model), BIAS_ZP, np.array(-(2**31), np.int32))
    assert_refused(
        model,
        tmp_path,
        capsys,
        f"node '{BIAS_DQ}' (DequantizeLinear)",
        "zero point -2147483648",
        f"'{BIAS_CODES}'",
        "overflows int32",
    )


def test_int32_zero_point_without_overflow_stays_bit_exact(tmp_path, capsys):
    model = _load(W8)
    _set(_body(model), BIAS_ZP, np.array(5, np.int32))
    path = tmp_path / "zp5.onnx"
    onnx.save(model, path)
    assert main(["verify", str(path), "--stages", "qrnn", "integer", "--random", "4"]) == 0


@pytest.mark.parametrize("shape", [(16, 1), (1, 1), (2,)])
def test_zero_point_shape_must_match_scale(tmp_path, capsys, shape):
    model = _load(W8)
    _set(_body(model), ACC_ZP, np.zeros(shape, np.int8))
    assert_refused(
        model,
        tmp_path,
        capsys,
        f"node '{ACC_Q}' (QuantizeLinear)",
        f"zero point '{ACC_ZP}' has shape {list(shape)}",
        f"scale '{ACC_SCALE}'",
    )


def test_per_axis_scale_needs_per_axis_zero_point(tmp_path, capsys):
    """onnxruntime refuses a scalar zero point next to a per-axis scale; lstmc used to repeat it."""
    model = _load("l1_t64_w2_perchannel_float.onnx")
    _set(_body(model), "l0_fwd_w_x_input_zp_3", np.array(0, np.int8))
    assert_refused(
        model,
        tmp_path,
        capsys,
        "node 'l0_fwd_QuantizeLinear_5' (QuantizeLinear)",
        "zero point 'l0_fwd_w_x_input_zp_3' has shape []",
    )


@pytest.mark.parametrize(
    "key,value,fragment",
    [
        ("scan_input_axes", [0, 0], "Number of scan input axes specified (2)"),
        ("scan_output_axes", [0, 0], "Number of scan output axes specified (2)"),
        ("scan_input_directions", [2], "scan directions must be 0 (forward) or 1 (reverse)"),
        ("scan_input_directions", [0, 1], "scan_input_directions has 2 entries for 1 scan inputs"),
        ("scan_output_directions", [], "scan_output_directions has 0 entries for 1 scan outputs"),
    ],
)
def test_scan_attributes_that_do_not_fit_the_scan(tmp_path, capsys, key, value, fragment):
    model = _load(W8)
    scan = next(n for n in model.graph.node if n.op_type == "Scan")
    for a in [a for a in scan.attribute if a.name == key]:
        scan.attribute.remove(a)
    scan.attribute.append(helper.make_attribute(key, value, attr_type=onnx.AttributeProto.INTS))
    assert_refused(model, tmp_path, capsys, "l0_fwd_scan", fragment)


@pytest.mark.parametrize("key,axis", [("scan_input_axes", 1), ("scan_output_axes", -1)])
def test_scan_along_another_axis_is_refused(tmp_path, capsys, key, axis):
    """A valid model (time on axis 1 of a transposed tensor) that onnxruntime runs but lstmc does not scan."""
    model = _load(W8)
    graph = model.graph
    scan = next(n for n in graph.node if n.op_type == "Scan")
    index = list(graph.node).index(scan)
    if key == "scan_input_axes":  # scan x^T [4, 20] along axis 1
        graph.node.insert(index, helper.make_node("Transpose", [scan.input[2]], ["x_by_time"], perm=[1, 0]))
        scan.input[2] = "x_by_time"
    else:  # write Y^T [8, 20] along axis 1 (= -1), transposed back into the graph output Y
        scan.output[2] = "y_by_time"
        graph.node.insert(index + 1, helper.make_node("Transpose", ["y_by_time"], ["Y"], perm=[1, 0]))
    scan.attribute.append(helper.make_attribute(key, [axis]))
    assert_refused(model, tmp_path, capsys, "node 'l0_fwd_scan' (Scan)", f"{key} [{axis}] are not supported")


def test_negative_scan_axis_counts_from_the_back(tmp_path, capsys):
    """scan_input_axes = [-2] of a [T, I] input is axis 0: accepted, and the qrnn stage equals onnxruntime."""
    model = _load(W8)
    next(n for n in model.graph.node if n.op_type == "Scan").attribute.append(
        helper.make_attribute("scan_input_axes", [-2])
    )
    path = tmp_path / "neg.onnx"
    onnx.save(model, path)
    assert main(["verify", str(path), "--stages", "qrnn", "--random", "2"]) == 0


@pytest.mark.parametrize(
    "version,fragments",
    [
        (99, ("ai.onnx opset 99 is not supported", "7..28")),
        (6, ("ai.onnx opset 6 is not supported",)),
        (28, ("node 'QuantizeLinear_4' (QuantizeLinear)", "no QuantizeLinear for opset 28")),
    ],
)
def test_opsets_onnxruntime_cannot_run(tmp_path, capsys, version, fragments):
    model = _load(W8)
    model.opset_import[0].version = version
    assert_refused(model, tmp_path, capsys, *fragments)


def test_float64_weights_are_refused(tmp_path, capsys):
    model = _load(W8)
    body = _body(model)
    weight = next(i for i in body.initializer if i.name == "l0_fwd_w_x_input_1")
    _set(body, weight.name, numpy_helper.to_array(weight).astype(np.float64))
    assert_refused(
        model, tmp_path, capsys, "the ONNX model is invalid", "node name: l0_fwd_QuantizeLinear_5", "tensor(double)"
    )


def test_blocked_dequantize_linear_is_refused(tmp_path, capsys):
    """Opset 21 defines block_size; onnxruntime dequantizes by blocks, lstmc used to ignore the attribute."""
    model = _load("l1_acc16_float.onnx")
    body = _body(model)
    _node(body, BIAS_DQ).attribute.append(helper.make_attribute("block_size", 2))
    _set(body, "l0_fwd_b_input_scale_30", np.full(4, 0.01, np.float32))
    _set(body, BIAS_ZP, np.zeros(4, np.int32))
    assert_refused(model, tmp_path, capsys, f"node '{BIAS_DQ}' (DequantizeLinear)", "blocked quantization")


def test_block_size_before_opset_21_is_invalid(tmp_path, capsys):
    model = _load(W8)
    _node(_body(model), BIAS_DQ).attribute.append(helper.make_attribute("block_size", 2))
    assert_refused(
        model,
        tmp_path,
        capsys,
        "Unrecognized attribute: block_size for operator DequantizeLinear",
        "in node 'l0_fwd_scan' (Scan)",
    )


@pytest.mark.parametrize("value", [1e-45, 1e-40, 0.0, -0.5, np.nan, np.inf])
@pytest.mark.parametrize("name,node", [(ACC_SCALE, ACC_Q), ("l0_fwd_b_input_scale_30", BIAS_DQ)])
def test_meaningless_scales(tmp_path, capsys, value, name, node):
    model = _load(W8)
    _set(_body(model), name, np.array(value, np.float32))
    assert_refused(
        model, tmp_path, capsys, f"node '{node}'", f"scale '{name}' contains", "finite, positive, normal float32"
    )


def test_clip_bounds_must_be_scalars(tmp_path, capsys):
    model = _load(W8)
    _set(_body(model), "l0_fwd_w_x_input_min_6", np.array([-127, -127], np.int8))
    assert_refused(model, tmp_path, capsys, "node 'l0_fwd_Clip_9' (Clip)", "min 'l0_fwd_w_x_input_min_6' has shape [2]")


def test_initializer_disagreeing_with_its_declaration(tmp_path, capsys):
    model = _load("l1_w8_float_quant.onnx")
    _set(model.graph, "x_zp_2", np.zeros(3, np.float32))  # value_info declares it a scalar
    assert_refused(model, tmp_path, capsys, "initializer 'x_zp_2' has shape [3] but is declared []")


# QONNX Quant (qonnx.custom_op.general) ---------------------------------------------------------------------------


def _quant_x(model: onnx.ModelProto) -> onnx.NodeProto:
    return _node(model.graph, "Quant_X")


@pytest.mark.parametrize("key", ["signed", "narrow"])
def test_quant_flags_other_than_0_or_1(tmp_path, capsys, key):
    model = _load("l1_w8_float_quant.onnx")
    _attr(_quant_x(model), key).i = 2
    assert_refused(model, tmp_path, capsys, "node 'Quant_X' (Quant)", f"attribute '{key}' = 2 is not 0 or 1")


@pytest.mark.parametrize(
    "bits,fragment",
    [
        (np.nan, "must be one integer, got [nan]"),
        (np.inf, "must be one integer, got [inf]"),
        (2.5, "must be one integer, got [2.5]"),
        (0.0, "bit width 0 is outside the supported range"),
    ],
)
def test_quant_bit_widths(tmp_path, capsys, bits, fragment):
    model = _load("l1_w8_float_quant.onnx")
    _set(model.graph, "Quant_X_bitwidth", np.array(bits, np.float32))
    assert_refused(model, tmp_path, capsys, "node 'Quant_X' (Quant)", fragment)


@pytest.mark.parametrize(
    "zp,fragment",
    [
        (np.nan, "zero point must be a finite integer, got [nan]"),
        (np.inf, "zero point must be a finite integer"),
        (300.0, "zero point 300 is outside the integer range [-128, 127]"),
        (-1e30, "is outside the integer range [-128, 127]"),
    ],
)
def test_quant_zero_points(tmp_path, capsys, zp, fragment):
    model = _load("l1_w8_float_quant.onnx")
    _set(model.graph, "x_zp_2", np.array(zp, np.float32))
    assert_refused(model, tmp_path, capsys, "node 'Quant_X' (Quant)", fragment)


def test_quant_scale_that_does_not_broadcast(tmp_path, capsys):
    model = _load("l1_w8_float_quant.onnx")
    quant = next(n for n in _body(model).node if n.op_type == "Quant")
    _set(_body(model), quant.input[2], np.zeros((5, 1, 1), np.float32), undeclare=True)
    assert_refused(
        model, tmp_path, capsys, f"node '{quant.name}' (Quant)", "do not broadcast to the input's shape [4, 8]"
    )


def test_quant_of_float64_weights(tmp_path, capsys):
    model = _load("l1_w8_float_quant.onnx")
    body = _body(model)
    quant = next(n for n in body.node if n.op_type == "Quant")
    weight = next(i for i in body.initializer if i.name == quant.input[0])
    _set(body, weight.name, numpy_helper.to_array(weight).astype(np.float64), undeclare=True)
    assert_refused(model, tmp_path, capsys, f"node '{quant.name}' (Quant)", "element type float64")


# Brevitas QuantLSTMCell --------------------------------------------------------------------------------------------


def _cell(model: onnx.ModelProto) -> onnx.NodeProto:
    return next(n for n in model.graph.node if n.op_type == "QuantLSTMCell")


def _rewire(model: onnx.ModelProto, index: int, value) -> None:
    """Input `index` of the cell from a new initializer (the exported constants are shared by many inputs)."""
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), "mutant_const"))
    _cell(model).input[index] = "mutant_const"


CELL_STATE = 15 + 3 * 1  # scale, zero point, bit width of the cell_state quantizer


@pytest.mark.parametrize(
    "offset,value,fragment",
    [
        (2, np.nan, "quantizer 'cell_state': bit width must be one integer in 1..32, got [nan]"),
        (2, np.inf, "quantizer 'cell_state': bit width must be one integer in 1..32, got [inf]"),
        (1, np.nan, "quantizer 'cell_state': zero point must be a finite integer, got [nan]"),
        (1, -np.inf, "quantizer 'cell_state': zero point must be a finite integer, got [-inf]"),
        (1, 300.0, "cell_state: zero point 300 outside the integer range [-128, 127]"),
        (0, 1e-45, "cell_state: scale 1.4013e-45 is not a finite, positive, normal float32"),
    ],
)
def test_quant_lstm_cell_quantizers(tmp_path, capsys, offset, value, fragment):
    model = _load("l1_w8_float_cell.onnx")
    _rewire(model, CELL_STATE + offset, np.array(value, np.float32))
    assert_refused(model, tmp_path, capsys, "node '/layers.0.0/export_handler/QuantLSTMCell' (QuantLSTMCell)", fragment)


def test_quant_lstm_cell_flag_other_than_0_or_1(tmp_path, capsys):
    model = _load("l1_w8_float_cell.onnx")
    _attr(_cell(model), "cell_state_signed").i = 2
    assert_refused(model, tmp_path, capsys, "(QuantLSTMCell)", "attribute 'cell_state_signed' = 2 is not 0 or 1")


@pytest.mark.parametrize(
    "gate_input,mutation,fragment",
    [
        (3, ("bit width", np.nan), "input weight of the input gate: bit width must be one integer in 1..32, got [nan]"),
        (11, ("bit width", np.inf), "bias of the input gate: bit width must be one integer in 1..32, got [inf]"),
        (11, ("scale", 0.0), "bias of the input gate: scales must be finite, positive, normal float32"),
        (3, ("weight", np.nan), "contains NaN or infinite values"),
    ],
)
def test_quant_lstm_cell_weight_quantizers(tmp_path, capsys, gate_input, mutation, fragment):
    model = _load("l1_w8_float_cell.onnx")
    quant = next(n for n in model.graph.node if _cell(model).input[gate_input] in n.output)
    what, value = mutation
    if what == "weight":
        weight = next(i for i in model.graph.initializer if i.name == quant.input[0])
        array = numpy_helper.to_array(weight).copy()
        array.flat[0] = value
        _set(model.graph, weight.name, array)
    else:
        model.graph.initializer.append(numpy_helper.from_array(np.array(value, np.float32), "mutant_const"))
        quant.input[{"scale": 1, "bit width": 3}[what]] = "mutant_const"
    assert_refused(model, tmp_path, capsys, "(QuantLSTMCell)", fragment)


def test_reference_stage_refuses_what_the_importer_refuses(tmp_path, capsys):
    """The onnxruntime reference rewrites Quant to QCDQ: a NaN bit width must not become some QCDQ there."""
    model = _load("l1_w8_float_quant.onnx")
    _set(model.graph, "Quant_X_bitwidth", np.array(np.nan, np.float32))
    path = tmp_path / "nan_bits.onnx"
    onnx.save(model, path)
    capsys.readouterr()
    status = main(["run", str(path), "--inputs", str(FIXTURES / "l1_w8_float.npz"), "--stage", "reference"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and err.startswith("lstmc: error: node 'Quant_X' (Quant): bit width") and "\n" not in err, err


# Found by mutating the fixtures: each used to escape `lstmc import` as a Python exception or import silently -----


def test_name_that_is_not_utf8(tmp_path, capsys):
    """protobuf hands back an invalid UTF-8 string field as bytes (here one byte of the Scan node's name)."""
    data = (FIXTURES / W8).read_bytes()
    assert data.count(b"l0_fwd_scan\x22\x04Scan") == 1  # name, then op_type (field 4, 4 bytes)
    path = tmp_path / "mutant.onnx"
    path.write_bytes(data.replace(b"l0_fwd_scan\x22\x04Scan", b"l0_fwd_sc\xffn\x22\x04Scan"))
    capsys.readouterr()
    assert main(["import", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.endswith("not a valid ONNX model (name of a node in graph 'quant_lstm' is not valid UTF-8)"), err


def test_unknown_element_type_of_an_initializer(tmp_path, capsys):
    model = _load("l1_w8_float_cell.onnx")
    model.graph.initializer[0].data_type = 9999
    assert_refused(
        model, tmp_path, capsys, f"initializer '{model.graph.initializer[0].name}' has an invalid element type 9999"
    )


def test_string_tensor_as_quantizer_parameter(tmp_path, capsys):
    model = _load("l1_w8_float_quant.onnx")
    _set(model.graph, "Quant_X_bitwidth", np.array(["8"], dtype=object), undeclare=True)
    assert_refused(
        model,
        tmp_path,
        capsys,
        "node 'Quant_X' (Quant)",
        "bit width 'Quant_X_bitwidth' has element type object, expected numbers",
    )


def test_rounding_mode_of_the_wrong_attribute_type(tmp_path, capsys):
    model = _load("l1_w8_float_quant.onnx")
    quant = _quant_x(model)
    quant.attribute.remove(_attr(quant, "rounding_mode"))
    quant.attribute.append(helper.make_attribute("rounding_mode", [1, 2]))
    assert_refused(model, tmp_path, capsys, "node 'Quant_X' (Quant)", "rounding_mode [1, 2] is not supported")


def test_quant_lstm_cell_zero_point_of_shape_1(tmp_path, capsys):
    """A [1] zero point is per tensor like a scalar (the cifg cell reads it for f = q(1) - i)."""
    model = _load("l1_cifg_io6_float_cell.onnx")
    cell = _cell(model)
    zp = next(i for i in model.graph.initializer if i.name == cell.input[15 + 3 * 6 + 1])  # input_sigmoid
    _rewire(model, 15 + 3 * 6 + 1, numpy_helper.to_array(zp).reshape(1))
    status, err = _import(model, tmp_path, capsys)
    assert status == 0, err


def test_quantize_linear_axis_must_match_its_dequantize_linear(tmp_path, capsys):
    """lstmc used to take the DequantizeLinear's axis and ignore the QuantizeLinear's (onnxruntime fails)."""
    model = _load("l1_t64_w2_perchannel_float.onnx")
    quant = _node(_body(model), "l0_fwd_QuantizeLinear_5")  # W_x [8, 16], 16 scales on axis 1
    _attr(quant, "axis").i = 0
    assert_refused(
        model, tmp_path, capsys, "node 'l0_fwd_QuantizeLinear_5' (QuantizeLinear)", "16 scales for axis 0 of size 8"
    )


def test_unsqueeze_axes_of_rank_2(tmp_path, capsys):
    """onnxruntime refuses axes that are not a 0-D/1-D tensor; lstmc used to flatten them."""
    model = _load(W8)
    _set(model.graph, "axes_9", np.array([[0]], np.int64), undeclare=True)
    assert_refused(
        model, tmp_path, capsys, "node 'Unsqueeze_11' (Unsqueeze)", "has shape [1, 1], expected a 1-D tensor"
    )


def test_lstm_operator_with_nan_weights(tmp_path, capsys):
    """onnxruntime's LSTM/GRU kernels turn a NaN pre-activation into FLT_MAX (clip_add_bias); no qrnn op does."""
    rng = np.random.default_rng(0)
    weights = {"W": rng.standard_normal((1, 16, 3)), "R": rng.standard_normal((1, 16, 4)), "B": np.zeros((1, 32))}
    weights["R"][0, 5, 1] = np.nan
    graph = helper.make_graph(
        [helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=4)],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [5, 1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [5, 1, 1, 4])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    assert_refused(model, tmp_path, capsys, "node 'lstm' (LSTM)", "input 'R' ('R') contains NaN or infinite values")


def test_quantizer_range_past_float32(tmp_path, capsys):
    """With scale 3.4e38 every code but 0 and +-1 dequantizes to inf: a meaningless grid."""
    model = _load(W8)
    _set(_body(model), "l0_fwd_b_input_scale_30", np.array(3.4e38, np.float32))
    assert_refused(
        model,
        tmp_path,
        capsys,
        f"node '{BIAS_DQ}' (DequantizeLinear)",
        "quantizer scale 3.4e+38 times its integer range [-2147483648, 2147483647] overflows float32",
    )


def test_saturated_quant_lstm_cell_bias_keeps_its_sign():
    """A bias far beyond its 32-bit grid saturates to 2^31 - 1 or -2^31; in float32 2^31 - 1 is 2^31, whose int32
    cast used to give INT32_MIN (the bias of every positive entry flipped sign)."""
    from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells

    model = _load("l1_w8_float_cell.onnx")
    cell = _cell(model)
    quant = next(n for n in model.graph.node if cell.input[11] in n.output)  # the input gate's bias
    bias = numpy_helper.to_array(next(i for i in model.graph.initializer if i.name == quant.input[0]))
    model.graph.initializer.append(numpy_helper.from_array(np.array(1e-30, np.float32), "tiny_scale"))
    quant.input[1] = "tiny_scale"
    body = _body(expand_quant_lstm_cells(model))
    codes = next(
        numpy_helper.to_array(i)
        for i in body.initializer
        if i.data_type == TensorProto.INT32
        and numpy_helper.to_array(i).shape == bias.shape
        and np.all(np.abs(numpy_helper.to_array(i).astype(np.int64)) >= 2**31 - 1)
    )
    assert np.array_equal(codes, np.where(bias > 0, 2**31 - 1, -(2**31)))
