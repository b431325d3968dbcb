"""The golden reference: onnxruntime with basic graph optimisations, one sequence per run.

Why basic: the default level fuses Q/DQ pairs into integer kernels that differ from Brevitas by 1-3 LSB.
Why one sequence per run: the models are defined per sequence, and onnxruntime's vector-matrix kernel (M = 1)
rounds differently from its matrix kernel, so batching sequences into one tensor would change the reference.
QONNX `Quant` nodes, which onnxruntime cannot run, are first rewritten to the equivalent QCDQ chain.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from lstmc.errors import LstmcError
from lstmc.frontend.onnx_quant import QONNX_DOMAINS, quant_parameters


def _quant_node_to_qcdq(node: onnx.NodeProto, consts: dict[str, np.ndarray], opset_needed: list[int]):
    """QuantizeLinear -> Clip -> DequantizeLinear nodes (+ initializers) equivalent to one QONNX Quant node."""
    if len(node.input) != 4:
        raise LstmcError(f"node '{node.name}' (Quant): needs 4 inputs (x, scale, zeropt, bitwidth)")
    try:
        raw = [consts[n] for n in node.input[1:4]]
    except KeyError as e:
        raise LstmcError(f"node '{node.name}' (Quant): input {e} must be an initializer") from e
    # the importer's checks: a NaN bit width or zero point, signed=2, ... must not become some QCDQ here either
    scale, zp, bits, signed, narrow, mode = quant_parameters(node, *raw)
    if mode != "half_even":
        raise LstmcError(
            f"node '{node.name}' (Quant): rounding mode {mode} has no ONNX equivalent, so the onnxruntime "
            "reference cannot run this model (the qrnn stage can)"
        )
    try:
        per_shape = np.broadcast_shapes(scale.shape, zp.shape)
    except ValueError as e:
        raise LstmcError(f"node '{node.name}' (Quant): scale and zero point shapes do not broadcast") from e
    scale, zp = np.broadcast_to(scale, per_shape), np.broadcast_to(zp, per_shape)
    if node.input[0] in consts:
        # A quantizer on a constant (weights, 32-bit biases): fold it into an initializer.
        from lstmc.numerics import QuantParams, fake_quant

        axis = None
        if scale.size > 1:
            axis = [i for i, d in enumerate(scale.shape) if d > 1][0] - scale.ndim
        q = QuantParams(
            bits, signed, narrow, tuple(scale.reshape(-1).tolist()), tuple(int(z) for z in zp.reshape(-1)), axis
        )
        folded = fake_quant(np.asarray(consts[node.input[0]], np.float32), q)
        return [], [numpy_helper.from_array(folded, node.output[0])]
    if bits > 16:
        raise LstmcError(f"node '{node.name}' (Quant): {bits}-bit activations have no ONNX QuantizeLinear equivalent")
    container = 8 if bits <= 8 else 16
    if container == 16:
        opset_needed.append(21)
    dtype = {(True, 8): np.int8, (False, 8): np.uint8, (True, 16): np.int16, (False, 16): np.uint16}[
        (signed, container)
    ]
    lo = -(2 ** (bits - 1)) + int(narrow) if signed else 0
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1 - int(narrow)
    base = node.output[0]
    extra_attrs = {}
    if scale.size > 1:
        big = [i for i, d in enumerate(scale.shape) if d > 1]
        extra_attrs["axis"] = big[0] - scale.ndim  # negative: counts from the end like broadcasting
        scale, zp = scale.reshape(-1), np.broadcast_to(zp, scale.shape).reshape(-1)
    else:
        scale, zp = scale.reshape(()), zp.reshape(-1)[0].reshape(())
    inits = [
        numpy_helper.from_array(scale.astype(np.float32), base + "__s"),
        numpy_helper.from_array(zp.astype(dtype), base + "__z"),
        numpy_helper.from_array(np.array(lo, dtype), base + "__lo"),
        numpy_helper.from_array(np.array(hi, dtype), base + "__hi"),
    ]
    # A Clip only when the range is narrower than the container. onnxruntime has no int16 Clip kernel, so a
    # 9..15-bit range clips the float input to [(lo - zp) * s, (hi - zp) * s] instead: x / s then rounds to
    # exactly lo - zp or hi - zp there (|hi| < 2^22), which is the integer clamp.
    info = np.iinfo(dtype)
    clipped = (lo, hi) != (info.min, info.max) and container == 8
    quant_input = node.input[0]
    nodes = []
    if (lo, hi) != (info.min, info.max) and container == 16:
        if scale.size != 1:
            raise LstmcError(
                f"node '{node.name}' (Quant): per-channel {bits}-bit activations are not supported by the reference"
            )
        bounds = [np.float32(np.float32(v - float(zp)) * scale) for v in (lo, hi)]
        inits += [numpy_helper.from_array(np.array(b, np.float32), base + f"__f{i}") for i, b in enumerate(bounds)]
        quant_input = base + "__fclip"
        nodes.append(
            helper.make_node(
                "Clip", [node.input[0], base + "__f0", base + "__f1"], [quant_input], name=node.name + "__fclip"
            )
        )
    nodes.append(
        helper.make_node(
            "QuantizeLinear",
            [quant_input, base + "__s", base + "__z"],
            [base + "__q"],
            name=node.name + "__q",
            **extra_attrs,
        )
    )
    if clipped:
        nodes.append(
            helper.make_node(
                "Clip", [base + "__q", base + "__lo", base + "__hi"], [base + "__c"], name=node.name + "__clip"
            )
        )
    nodes.append(
        helper.make_node(
            "DequantizeLinear",
            [base + ("__c" if clipped else "__q"), base + "__s", base + "__z"],
            [node.output[0]],
            name=node.name + "__dq",
            **extra_attrs,
        )
    )
    return nodes, inits


def _rewrite_graph(graph: onnx.GraphProto, outer: dict[str, np.ndarray], opset_needed: list[int]) -> None:
    consts = dict(outer)
    consts.update({i.name: numpy_helper.to_array(i) for i in graph.initializer})
    new_nodes = []
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                _rewrite_graph(attr.g, consts, opset_needed)
        if node.op_type == "Quant" and node.domain in QONNX_DOMAINS:
            nodes, inits = _quant_node_to_qcdq(node, consts, opset_needed)
            new_nodes.extend(nodes)
            graph.initializer.extend(inits)
        else:
            new_nodes.append(node)
    del graph.node[:]
    graph.node.extend(new_nodes)


def quant_to_qcdq(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of the model with every QONNX Quant node (also in Scan bodies) replaced by QCDQ."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    opset_needed: list[int] = []
    _rewrite_graph(model.graph, {}, opset_needed)
    kept = [o for o in model.opset_import if o.domain not in QONNX_DOMAINS]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and opset_needed:
            o.version = max(o.version, max(opset_needed))
    return model


def has_qonnx_nodes(model: onnx.ModelProto) -> bool:
    def visit(graph: onnx.GraphProto) -> bool:
        for node in graph.node:
            if node.domain in QONNX_DOMAINS:
                return True
            if any(a.type == onnx.AttributeProto.GRAPH and visit(a.g) for a in node.attribute):
                return True
        return False

    return visit(model.graph)


def make_session(model: onnx.ModelProto):
    import onnxruntime as ort

    from lstmc.frontend.brevitas_cell import expand_quant_lstm_cells

    model = expand_quant_lstm_cells(model)
    if has_qonnx_nodes(model):
        model = quant_to_qcdq(model)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.log_severity_level = 3
    try:
        return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime reports model problems as assorted exception types
        raise LstmcError(f"onnxruntime cannot load the model: {str(e).strip().splitlines()[0]}") from e


def run_reference(model: onnx.ModelProto, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run onnxruntime sequence by sequence; inputs/outputs batched like `lstmc.interpreter.run_function`."""
    session = make_session(model)
    names = [i.name for i in session.get_inputs()]
    shapes = {i.name: i.shape for i in session.get_inputs()}
    missing = [n for n in names if n not in inputs]
    if missing:
        raise LstmcError(f"missing input(s) {', '.join(missing)}; the model takes {', '.join(names)}")
    arrays = {n: np.asarray(inputs[n], dtype=np.float32) for n in names}
    batched = all(arrays[n].ndim == len(shapes[n]) + 1 for n in names)
    if not batched:
        arrays = {n: a[None] for n, a in arrays.items()}
    count = arrays[names[0]].shape[0] if names else 1
    out_names = [o.name for o in session.get_outputs()]
    collected: dict[str, list[Any]] = {n: [] for n in out_names}  # what onnxruntime returns (dense tensors)
    for i in range(count):
        try:
            results = session.run(None, {n: arrays[n][i] for n in names})
        except Exception as e:
            raise LstmcError(f"onnxruntime failed on sequence {i}: {str(e).strip().splitlines()[0]}") from e
        for n, r in zip(out_names, results):
            collected[n].append(r)
    outputs = {n: np.stack(v) for n, v in collected.items()}
    return outputs if batched else {n: v[0] for n, v in outputs.items()}
