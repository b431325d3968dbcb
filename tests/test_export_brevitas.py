"""lstmc.export.brevitas_lstm: Brevitas QuantLSTM -> Scan/QCDQ ONNX, bit exact under onnxruntime."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("brevitas")
import onnx  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

from lstmc.export import export_quant_lstm  # noqa: E402
from lstmc.export.scan_lstm import OnnxGraph as _Graph  # noqa: E402
from lstmc.export.scan_lstm import QuantSpec, _all_nodes  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(FIXTURES))
import make_fixtures as mf  # noqa: E402
from brevitas.quant import Int8WeightPerChannelFloat  # pyright: ignore[reportMissingImports]  # noqa: E402
from conftest import SCAN_BODY_OPS  # noqa: E402

pytestmark = pytest.mark.torch


# name -> QuantLSTM kwargs; trained for STATS_STEPS + 2 steps so learned scales are parameters.
CASES = {
    "float_default": dict(input_size=3, hidden_size=5, **mf.FLOAT),
    "po2_w4_sig4": dict(input_size=3, hidden_size=5, weight_bit_width=4, sigmoid_bit_width=4, **mf.PO2),
    "two_layers_float": dict(input_size=3, hidden_size=5, num_layers=2, weight_bit_width=5, **mf.FLOAT),
    "bidir_float": dict(input_size=3, hidden_size=5, bidirectional=True, **mf.FLOAT),
    "two_layers_bidir_float": dict(
        input_size=4, hidden_size=4, num_layers=2, bidirectional=True, sigmoid_bit_width=3, **mf.FLOAT
    ),
    "three_layers_po2": dict(input_size=2, hidden_size=4, num_layers=3, weight_bit_width=2, **mf.PO2),
    "cifg_float": dict(input_size=3, hidden_size=5, coupled_input_forget_gates=True, **mf.FLOAT),
    "cifg_bidir_po2": dict(
        input_size=3, hidden_size=5, coupled_input_forget_gates=True, bidirectional=True, sigmoid_bit_width=5, **mf.PO2
    ),
    "per_channel_w2": dict(
        input_size=3, hidden_size=5, weight_quant=Int8WeightPerChannelFloat, weight_bit_width=2, **mf.FLOAT
    ),
    "no_bias_io4": dict(input_size=3, hidden_size=5, bias=False, io_bit_width=4, tanh_bit_width=4, **mf.FLOAT),
    "acc16": dict(input_size=3, hidden_size=5, gate_acc_bit_width=16, cell_state_bit_width=16, **mf.FLOAT),
}


def trained(kwargs, seq_len=9, seed=0):
    return mf.train(mf.make_lstm(seed, **kwargs), seq_len, steps=mf.STATS_STEPS + 2, seed=seed)


def check_exact(module, model, seq_len, seed=1):
    x = mf.inputs(seed, 8, seq_len, module.layers[0][0].input_size)
    mf.assert_bit_exact(mf.brevitas_outputs(module, x), mf.ort_outputs(model.SerializeToString(), x), "export")


@pytest.mark.parametrize("case", sorted(CASES))
def test_export_matches_brevitas(case):
    module = trained(CASES[case])
    check_exact(module, export_quant_lstm(module, None, 9), 9)


def test_structure_and_saving(tmp_path):
    module = trained(CASES["two_layers_bidir_float"])
    path = tmp_path / "m.onnx"
    model = export_quant_lstm(module, path, 6, input_size=4)
    assert onnx.load(str(path)) == model
    onnx.checker.check_model(model, full_check=True)
    graph = model.graph
    assert [i.name for i in graph.input] == ["X"]
    assert [o.name for o in graph.output] == ["Y", "h_n", "c_n"]
    dims = [[d.dim_value for d in o.type.tensor_type.shape.dim] for o in graph.output]
    assert dims == [[6, 8], [4, 4], [4, 4]]
    scans = [n for n in graph.node if n.op_type == "Scan"]
    assert len(scans) == 4
    directions = [
        helper.get_attribute_value(next(a for a in s.attribute if a.name == "scan_input_directions")) for s in scans
    ]
    assert directions == [[0], [1], [0], [1]]
    # the input quantizer sits in the main graph, before the first Scan
    assert [n.op_type for n in graph.node[:2]] == ["QuantizeLinear", "DequantizeLinear"]
    for s in scans:
        body = helper.get_attribute_value(next(a for a in s.attribute if a.name == "body"))
        ops = [n.op_type for n in body.node]
        assert set(ops) <= SCAN_BODY_OPS
        assert ops.count("MatMul") == 8  # one per gate and path


def test_symbolic_sequence_length():
    """seq_len=None gives a model for any T that computes exactly what the fixed-T exports compute."""
    module = trained(CASES["bidir_float"])
    symbolic = export_quant_lstm(module, None, None).SerializeToString()
    for seq_len in (1, 7, 13):
        x = mf.inputs(1, 8, seq_len, 3)
        fixed = mf.ort_outputs(export_quant_lstm(module, None, seq_len).SerializeToString(), x)
        mf.assert_bit_exact(fixed, mf.ort_outputs(symbolic, x), f"symbolic T={seq_len}")
    check_exact(module, export_quant_lstm(module, None, 9), 9)


def test_module_is_not_modified():
    module = trained(CASES["float_default"])
    x = mf.inputs(3, 4, 5, 3)
    before = mf.brevitas_outputs(module, x)
    export_quant_lstm(module, None, 5)
    assert not mf.first_direction(module).export_mode
    mf.assert_bit_exact(before, mf.brevitas_outputs(module, x), "module after export")


def test_fixture_script_is_deterministic():
    """Re-running make_fixtures' recipe gives the committed expected outputs."""
    name = "l1_w4_po2"
    _, _, x, expected = mf.build(name, mf.seed_of(name))
    committed = np.load(FIXTURES / f"{name}.npz")
    assert np.array_equal(committed["X"], x)
    mf.assert_bit_exact({k: committed[k] for k in expected}, expected, name)


# ---------------------------------------------------------------------------------------------------------------
# QONNX Quant format
# ---------------------------------------------------------------------------------------------------------------
def quant_to_qcdq(graph: onnx.GraphProto) -> None:
    """Rewrite every QONNX Quant node (in place, Scan bodies included) back into QuantizeLinear/Clip/
    DequantizeLinear from its own scale/zero-point/bit-width/signed/narrow, so onnxruntime can run it.
    Quant nodes wider than 16 bits (the int32 biases, whose float initializer holds int * scale) become
    Identity after checking that the initializer is on the quantization grid."""
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    g = _Graph(graph.name + "_rt_")
    nodes = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                quant_to_qcdq(attr.g)
        if node.op_type != "Quant":
            nodes.append(node)
            continue
        assert node.domain == "qonnx.custom_op.general"
        x, scale, zp, bits = (inits.get(n) for n in node.input)
        assert scale is not None and zp is not None and bits is not None  # initializers
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["rounding_mode"] == b"ROUND"
        axis = int(np.argmax(scale.shape)) if scale.size > 1 else None
        scale = scale.reshape(-1) if axis is not None else scale.reshape(())
        zp = np.broadcast_to(zp.reshape(-1) if zp.size > 1 else zp.reshape(()), scale.shape).astype(np.int64)
        if bits > 16:
            assert x is not None and np.array_equal(np.round(x / scale) * scale, x)
            nodes.append(helper.make_node("Identity", [node.input[0]], [node.output[0]]))
            continue
        g.nodes = []
        spec = QuantSpec(
            "rt", scale.astype(np.float32), zp, int(bits), bool(attrs["signed"]), bool(attrs["narrow"]), axis
        )
        g.qcdq(node.input[0], spec, "rt", out=node.output[0])
        nodes += g.nodes
    graph.initializer.extend(g.inits)
    del graph.node[:]
    graph.node.extend(nodes)


@pytest.mark.parametrize("case", ["po2_w4_sig4", "per_channel_w2", "cifg_bidir_po2", "two_layers_float"])
def test_quant_format(case):
    pytest.importorskip("qonnx")
    module = trained(CASES[case])
    model = export_quant_lstm(module, None, 9, quant_format="quant")
    onnx.checker.check_model(model)
    ops = [n.op_type for n in _all_nodes(model.graph)]
    assert "Quant" in ops and not {"QuantizeLinear", "DequantizeLinear", "Clip"} & set(ops)
    quant_to_qcdq(model.graph)
    version = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    del model.opset_import[:]
    model.opset_import.append(helper.make_opsetid("", version))
    check_exact(module, model, 9)


# ---------------------------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,export_kwargs,message",
    [
        (dict(gate_acc_bit_width=20), {}, "20-bit"),
        (dict(cell_state_bit_width=16), dict(opset=19), "opset 19 is too old"),
        ({}, dict(quant_format="qdq"), "quant_format"),
        ({}, dict(input_size=7), "input_size=7"),
    ],
)
def test_refuses_unsupported(kwargs, export_kwargs, message):
    module = mf.make_lstm(0, input_size=3, hidden_size=4, **kwargs)
    with pytest.raises(ValueError, match=message):
        export_quant_lstm(module, None, 5, **export_kwargs)


def test_refuses_non_round_to_even():
    from brevitas.quant import Int8WeightPerTensorFloat  # pyright: ignore[reportMissingImports]

    class FloorWeights(Int8WeightPerTensorFloat):
        float_to_int_impl_type = "FLOOR"

    module = mf.make_lstm(0, input_size=3, hidden_size=4, weight_quant=FloorWeights)
    with pytest.raises(ValueError, match="rounding mode 'FLOOR'"):
        export_quant_lstm(module, None, 5)


def test_refuses_other_modules():
    from brevitas.nn import QuantRNN  # pyright: ignore[reportMissingImports]

    with pytest.raises(ValueError, match="QuantLSTM"):
        export_quant_lstm(QuantRNN(3, 4), None, 5)


def test_refuses_unquantized_weights():
    module = mf.make_lstm(0, input_size=3, hidden_size=4, weight_quant=None, bias_quant=None)
    with pytest.raises(ValueError, match="weight quantization disabled"):
        export_quant_lstm(module, None, 5)
