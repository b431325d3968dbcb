"""StockNet (examples/stock/model.py) -> one-sequence QCDQ ONNX that the lstmc compiler reads.

Graph (no batch axis at the boundary; T events, C1..C3 conv channels, H hidden units)::

    X [T, 40] -> QCDQ(input) -> Reshape [1, 1, T, 40]
      -> Conv(W1 QCDQ, b1 int32 DQ, kernel (1,2), stride (1,2)) -> Relu -> QCDQ(relu1)   [1, C1, T, 20]
      -> Conv(W2 ..., kernel (1,2), stride (1,2))                -> Relu -> QCDQ(relu2)   [1, C2, T, 10]
      -> Conv(W3 ..., kernel (1,10))                             -> Relu -> QCDQ(relu3)   [1, C3, T, 1]
      -> Reshape [C3, T] -> Transpose(perm [1, 0]) [T, C3]
      -> QCDQ(LSTM io_quant) -> Scan (lstmc's QuantLSTM cell body) -> Y [T, H]
      -> Gather(indices T-1, axis 0) [H] -> MatMul(W_head^T QCDQ) [3] -> Add(b_head int32 DQ)
      -> QCDQ(head output quantizer) -> logits [3]

QCDQ = QuantizeLinear -> [Clip] -> DequantizeLinear. Weights are float initializers holding the quantized values,
biases int32 initializers followed by DequantizeLinear. The LSTM part is written exactly like
``lstmc.export.export_quant_lstm`` (same readers, same ``cell_body``). Opset 19, or 21 when a quantizer is wider
than 8 bits. Everything is read from the Brevitas proxies of a deep copy in eval mode.

All scales are powers of two, so onnxruntime (``ORT_ENABLE_BASIC``; the default level fuses QDQ and disagrees)
reproduces Brevitas' eval forward bit for bit; `check_against_brevitas` verifies that.

    python examples/stock/export.py DIR     # re-export DIR/checkpoint.pt (config from DIR/metrics.json)
"""

from __future__ import annotations

import copy
import os
from typing import Optional

import numpy as np
import onnx
import torch  # pyright: ignore[reportMissingImports]
from onnx import TensorProto, helper

from lstmc.export.brevitas_lstm import _act_spec, _bias_onnx, _capture_gate_params, _np, _read_layer, weight_onnx
from lstmc.export.scan_lstm import INT16_OPSET, MIN_OPSET, OnnxGraph, QuantSpec, axis_attr, cell_body

N_FEATURES = 40
ALLOWED_OPS = frozenset(
    {
        "QuantizeLinear",
        "Clip",
        "DequantizeLinear",
        "Reshape",
        "Conv",
        "Relu",
        "Transpose",
        "Scan",
        "Gather",
        "MatMul",
        "Add",
        "Identity",
    }
)
OUTPUT = "logits"
CONVS = ("conv1", "conv2", "conv3")
RELUS = ("relu1", "relu2", "relu3")


# --------------------------------------------------------------------------------------------------------
# Reading Brevitas
# --------------------------------------------------------------------------------------------------------
def _conv_weight_onnx(qt, proxy, what: str) -> tuple[np.ndarray, QuantSpec]:
    """(W as float32 [Cout, Cin, kh, kw], spec; axis 0 if per channel) from a conv weight IntQuantTensor."""
    return weight_onnx(qt, proxy, what, transpose=False)


def _capture(m, T: int) -> dict:
    """One eval forward of [1, T, 40] zeros recording the quantized weights and int32 biases the layers use
    (a bias quantizer needs the runtime input scale)."""
    got, hooks = {}, []
    for name in CONVS + ("head",):
        layer = getattr(m, name)
        hooks.append(
            layer.weight_quant.register_forward_hook(
                lambda mod, inp, out, _n=name: got.__setitem__(f"{_n}.weight", out)
            )
        )
        hooks.append(
            layer.bias_quant.register_forward_hook(lambda mod, inp, out, _n=name: got.__setitem__(f"{_n}.bias", out))
        )
    try:
        with torch.no_grad():
            m(torch.zeros(1, T, N_FEATURES))
    finally:
        for h in hooks:
            h.remove()
    return got


def _same(a: np.ndarray, b, what: str) -> None:
    b = _np(b).astype(np.float32)
    if a.shape != b.shape or not np.array_equal(a, b):
        raise ValueError(f"{what}: the exported value differs from Brevitas' quantized value")


# --------------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------------
def export_stocknet(
    module, T: Optional[int] = None, opset: Optional[int] = None, path: str | os.PathLike | None = None
) -> onnx.ModelProto:
    """The one-sequence QCDQ ONNX of a trained StockNet: input ``X`` [T, 40], output ``logits`` [3].

    module: the StockNet (not modified: a deep copy is exported in eval mode). T: window length (default: the
    module's config). opset: default 19, or 21 when some quantizer needs more than 8 bits.
    Raises ValueError when something cannot be expressed exactly.
    """
    m = copy.deepcopy(module).eval()
    T = int(T if T is not None else m.config.T)
    captured = _capture(m, T)
    g = OnnxGraph("")
    specs: list[QuantSpec] = []

    def qcdq(x, spec, base, out=None):
        specs.append(spec)
        return g.qcdq(x, spec, base, out=out)

    # ---- input quantizer and NCHW view
    x = qcdq("X", _act_spec(m.input_quant.act_quant, "input_quant"), "x")
    x = g.op("Reshape", [x, g.const("x_shape", np.array([1, 1, T, N_FEATURES], np.int64))], "x_nchw")

    # ---- convolutions over the level axis
    for conv_name, relu_name in zip(CONVS, RELUS):
        conv = getattr(m, conv_name)
        if (
            conv.groups != 1
            or tuple(conv.dilation) != (1, 1)
            or any(int(p) for p in conv.padding)
            or conv.kernel_size[0] != 1
            or conv.stride[0] != 1
        ):
            raise ValueError(f"{conv_name}: only kernel height 1, stride 1 over time, no padding/dilation/groups")
        qw = conv.quant_weight()
        w, wspec = _conv_weight_onnx(qw, conv.weight_quant, f"{conv_name}.weight")
        _same(w, captured[f"{conv_name}.weight"].value, f"{conv_name}.weight")
        bias = _bias_onnx(captured[f"{conv_name}.bias"], f"{conv_name}.bias")
        if bias is None:
            raise ValueError(f"{conv_name}: a bias is expected")
        b_int, b_scale = bias
        _same(
            (b_int.astype(np.float32) * b_scale).astype(np.float32),
            captured[f"{conv_name}.bias"].value,
            f"{conv_name}.bias",
        )
        w_in = qcdq(g.const(f"{conv_name}_w", w), wspec, f"{conv_name}_w")
        b_in = g.op(
            "DequantizeLinear",
            [
                g.const(f"{conv_name}_b", b_int),
                g.const(f"{conv_name}_b_scale", b_scale),
                g.const(f"{conv_name}_b_zp", np.zeros(b_scale.shape, np.int32)),
            ],
            f"{conv_name}_b_dq",
            **axis_attr(0 if b_scale.ndim else None),
        )
        x = g.op(
            "Conv",
            [x, w_in, b_in],
            conv_name,
            kernel_shape=[int(k) for k in conv.kernel_size],
            strides=[int(s) for s in conv.stride],
            pads=[0, 0, 0, 0],
            dilations=[1, 1],
            group=1,
        )
        x = g.op("Relu", [x], relu_name)
        x = qcdq(x, _act_spec(getattr(m, relu_name).act_quant, f"{relu_name}.act_quant"), relu_name)

    # ---- [1, C3, T, 1] -> [T, C3]
    c3 = m.conv3.out_channels
    x = g.op("Reshape", [x, g.const("seq_shape", np.array([c3, T], np.int64))], "seq_ct")
    x = g.op("Transpose", [x], "seq", perm=[1, 0])

    # ---- the QuantLSTM, exactly as lstmc.export.export_quant_lstm writes it
    lstm = m.lstm
    if len(lstm.layers) != 1 or len(lstm.layers[0]) != 1:
        raise ValueError("only a 1-layer unidirectional QuantLSTM is supported here")
    d = lstm.layers[0][0]
    gate_params = _capture_gate_params(lstm)
    lay = _read_layer(d, gate_params, "l0_fwd")
    x = qcdq(x, _act_spec(d.io_quant, "lstm.io_quant (input)"), "lstm_x")
    specs.extend(s for s in lay.specs() if s is not None)
    h0, c0 = (g.const(f"l0_fwd_{v}0", np.zeros(lay.hidden, np.float32)) for v in "hc")
    g.nodes.append(
        helper.make_node(
            "Scan",
            [h0, c0, x],
            ["l0_fwd_h_T", "l0_fwd_c_T", "Y"],
            name="l0_fwd_scan",
            num_scan_inputs=1,
            body=cell_body(lay),
            scan_input_directions=[0],
            scan_output_directions=[0],
        )
    )

    # ---- last time step and the classifier head
    h = g.op("Gather", ["Y", g.const("last_t", np.array(T - 1, np.int64))], "h_last", axis=0)
    head = m.head
    w_t, hspec = weight_onnx(head.quant_weight(), head.weight_quant, "head.weight")
    _same(w_t.T, captured["head.weight"].value, "head.weight")
    hb = _bias_onnx(captured["head.bias"], "head.bias")
    if hb is None:
        raise ValueError("head: a bias is expected")
    hb_int, hb_scale = hb
    _same((hb_int.astype(np.float32) * hb_scale).astype(np.float32), captured["head.bias"].value, "head.bias")
    z = g.op("MatMul", [h, qcdq(g.const("head_w", w_t), hspec, "head_w")], "head_mm")
    b = g.op(
        "DequantizeLinear",
        [
            g.const("head_b", hb_int),
            g.const("head_b_scale", hb_scale),
            g.const("head_b_zp", np.zeros(hb_scale.shape, np.int32)),
        ],
        "head_b_dq",
        **axis_attr(0 if hb_scale.ndim else None),
    )
    z = g.op("Add", [z, b], "head_acc")
    out_spec = _act_spec(head.output_quant, "head.output_quant")
    if out_spec is None:
        raise ValueError("head: an output quantizer is expected")
    qcdq(z, out_spec, "logits", out=OUTPUT)

    needed = INT16_OPSET if any(s is not None and s.bit_width > 8 for s in specs) else MIN_OPSET
    if opset is None:
        opset = needed
    elif opset < needed:
        raise ValueError(f"opset {opset} is too old: this model needs opset >= {needed}")
    n_cls = head.out_features
    graph = helper.make_graph(
        g.nodes,
        "stocknet",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, N_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, [n_cls])],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="lstmc.examples.stock"
    )
    model.ir_version = min(model.ir_version, 10)
    model = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True)
    onnx.checker.check_model(model, full_check=True)
    bad = sorted({n.op_type for n in model.graph.node} - ALLOWED_OPS)
    if bad:
        raise ValueError(f"unexpected op types in the exported graph: {bad}")
    if path is not None:
        onnx.save(model, str(path))
    return model


# --------------------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------------------
def brevitas_logits(module, X: np.ndarray, batch: int = 256) -> np.ndarray:
    """Brevitas eval forward of windows X [N, T, 40] -> logits [N, 3] (module switched to eval)."""
    module.eval()
    outs = []
    with torch.no_grad():
        for i in range(0, len(X), batch):
            outs.append(module(torch.from_numpy(np.ascontiguousarray(X[i : i + batch], np.float32))).numpy())
    return np.concatenate(outs).astype(np.float32)


def ort_logits(model: onnx.ModelProto, X: np.ndarray) -> np.ndarray:
    """onnxruntime with ORT_ENABLE_BASIC (no QDQ fusion), one window at a time -> logits [N, 3]."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return np.stack([np.asarray(sess.run([OUTPUT], {"X": np.ascontiguousarray(x, np.float32)})[0]) for x in X])


def check_against_brevitas(
    model: onnx.ModelProto, module, X: np.ndarray, expected: Optional[np.ndarray] = None
) -> np.ndarray:
    """Assert that onnxruntime reproduces Brevitas' logits on X [N, T, 40] bit for bit; returns them.
    Raises AssertionError naming the number of differing values otherwise."""
    if expected is None:
        expected = brevitas_logits(module, X)
    got = ort_logits(model, X)
    if got.shape != expected.shape or not np.array_equal(got, expected):
        n = int(np.sum(got != expected)) if got.shape == expected.shape else "shape mismatch"
        rows = [] if isinstance(n, str) else np.unique(np.argwhere(got != expected)[:, 0])[:5].tolist()
        raise AssertionError(
            f"onnxruntime (ORT_ENABLE_BASIC) differs from Brevitas: {n} of {expected.size} "
            f"logits differ (first windows: {rows})"
        )
    return got


def input_codes(module, events: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """The input quantizer's integer codes of z-scored events [N, 40] and its scale: codes * scale is exactly
    what the model (Brevitas and the ONNX's first QCDQ) computes with, so windows rebuilt from the codes give
    the same logits as the float windows. int8 codes for <= 8-bit inputs, int16 otherwise."""
    spec = _act_spec(copy.deepcopy(module).eval().input_quant.act_quant, "input_quant")
    if spec is None or spec.scale.ndim or int(spec.zero_point) != 0:
        raise ValueError("input_quant: expected an enabled per-tensor quantizer with zero point 0")
    lo, hi = spec.int_range
    codes = np.clip(np.round(np.asarray(events, np.float32) / spec.scale), lo, hi).astype(spec.np_type)
    return codes, np.float32(spec.scale)


def op_summary(model: onnx.ModelProto) -> list[str]:
    """'OpType [out shape]' per main-graph node, in graph order (needs shape-inferred value_info)."""
    shapes = {
        vi.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
        for vi in list(model.graph.value_info) + list(model.graph.output) + list(model.graph.input)
    }
    return [f"{n.op_type} -> " + ", ".join(f"{o}{shapes.get(o, '?')}" for o in n.output) for n in model.graph.node]


def _main(argv=None) -> int:
    import argparse
    import importlib.util
    import json
    import sys
    from pathlib import Path

    p = argparse.ArgumentParser(description="re-export a trained StockNet checkpoint to ONNX and check it")
    p.add_argument("dir", help="a train.py output directory (checkpoint.pt, metrics.json, inputs.npz)")
    p.add_argument("--out", help="ONNX path (default DIR/model.onnx)")
    args = p.parse_args(argv)
    d = Path(args.dir)
    spec = importlib.util.spec_from_file_location("stock_model", Path(__file__).with_name("model.py"))
    assert spec is not None and spec.loader is not None
    mod = sys.modules.get("stock_model") or importlib.util.module_from_spec(spec)
    if "stock_model" not in sys.modules:
        sys.modules["stock_model"] = mod
        spec.loader.exec_module(mod)
    cfg = mod.StockConfig(**json.loads((d / "metrics.json").read_text())["config"])
    net = mod.StockNet(cfg)
    net.load_state_dict(torch.load(d / "checkpoint.pt", weights_only=True))
    model = export_stocknet(net, cfg.T, path=args.out or d / "model.onnx")
    X = np.load(d / "inputs.npz")["X"]
    check_against_brevitas(model, net, X)
    print(f"wrote {args.out or d / 'model.onnx'}; onnxruntime == Brevitas bit for bit on {len(X)} windows")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
