"""Brevitas ``QuantLSTM`` -> ONNX ``Scan`` with QCDQ (or QONNX ``Quant``) quantizers.

No Brevitas exporter writes this format, so lstmc ships its own. The exported graph computes ONE sequence
(no batch dimension) and reproduces Brevitas' eval-mode forward bit for bit when run by onnxruntime with
``GraphOptimizationLevel.ORT_ENABLE_BASIC``.

The graph itself (layout, cell body) is written by ``lstmc.export.scan_lstm``; this module reads the
trained module's weights, biases and 11 activation quantizers per layer/direction with torch.

Known limits of onnxruntime (1.32) as a reference, not of the format:
- it has no int16 Clip kernel, so models with 9..15-bit quantizers (int16 QuantizeLinear + Clip) are valid
  ONNX but cannot be run by onnxruntime (8-bit and full 16-bit quantizers are fine);
- its Sigmoid/Tanh differ from torch's by ~1 ulp on most inputs, and MatMul with a runtime (DequantizeLinear)
  weight accumulates without FMA, unlike torch; after quantization this very rarely flips one LSB where a
  value sits within float32 error of a rounding boundary. The fixtures are checked to be free of such cases.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, Optional, cast

import numpy as np
import onnx
import torch  # pyright: ignore[reportMissingImports]

from lstmc.export.scan_lstm import GATES, GateOnnx, LayerOnnx, QuantSpec, build_model, check_spec


# --------------------------------------------------------------------------------------------------------
# Reading quantizers out of Brevitas
# --------------------------------------------------------------------------------------------------------
def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _int_value(t, what: str) -> int:
    v = float(_np(t).reshape(-1)[0])
    if v != round(v):
        raise ValueError(f"{what}: non-integer value {v} cannot be expressed in ONNX")
    return int(round(v))


def _squeeze_channels(a: np.ndarray, what: str) -> tuple[np.ndarray, bool]:
    """Brevitas scales are (), (1,), (1, 1) per tensor or (N, 1) per channel -> (() or (N,), per_channel)."""
    if a.size == 1:
        return a.reshape(()), False
    if a.ndim >= 1 and a.size == a.shape[0]:
        return a.reshape(-1), True
    raise ValueError(f"{what}: scale of shape {a.shape} (e.g. group-wise) cannot be expressed in ONNX")


def _check_rounding(proxy, what: str) -> None:
    mode = getattr(proxy, "rounding_mode", "ROUND")  # Brevitas' ROUND is torch.round: half to even
    if str(mode).upper() != "ROUND":
        raise ValueError(f"{what}: rounding mode {mode!r} is not round-half-to-even; ONNX cannot express it")


def _act_spec(proxy, what: str) -> Optional[QuantSpec]:
    """QuantSpec of an activation quant proxy, or None if it is disabled (Brevitas then only applies the
    activation function, if any)."""
    if proxy is None or not proxy.is_quant_enabled:
        return None
    tensor_quant = proxy.fused_activation_quant_proxy.tensor_quant
    if not hasattr(tensor_quant, "int_quant"):
        raise ValueError(f"{what}: only integer quantizers are supported, got {type(tensor_quant).__name__}")
    _check_rounding(proxy, what)
    scale, per_channel = _squeeze_channels(_np(proxy.scale()).astype(np.float32), what)
    if per_channel:
        raise ValueError(f"{what}: per-channel activation quantization is not supported")
    zp = _np(proxy.zero_point()).astype(np.float64).reshape(())
    if zp != np.round(zp):
        raise ValueError(f"{what}: non-integer zero point {zp}")
    return check_spec(
        QuantSpec(
            name=what,
            scale=scale,
            zero_point=zp.astype(np.int64),
            bit_width=_int_value(proxy.bit_width(), what),
            signed=bool(proxy.is_signed),
            narrow=bool(proxy.is_narrow_range),
        )
    )


def weight_onnx(qt, proxy, what: str, transpose: bool = True) -> tuple[np.ndarray, QuantSpec]:
    """(W^T as float32 [K, N], spec with axis=1) from a Brevitas weight QuantTensor of shape [N, K]; with
    transpose=False the weight as it is (e.g. a conv's [Cout, Cin, kh, kw]) with a per-channel axis 0."""
    if getattr(qt, "scale", None) is None:  # disabled quantizers return plain tensors
        raise ValueError(f"{what}: weight quantization disabled; only quantized weights are supported")
    _check_rounding(proxy, what)
    scale, per_channel = _squeeze_channels(_np(qt.scale).astype(np.float32), what)
    zp = _np(qt.zero_point).astype(np.float64)
    zp = np.broadcast_to(zp.reshape(-1) if zp.size > 1 else zp.reshape(()), scale.shape)
    if np.any(zp != np.round(zp)):
        raise ValueError(f"{what}: non-integer zero point")
    spec = check_spec(
        QuantSpec(
            name=what,
            scale=scale,
            zero_point=zp.astype(np.int64),
            bit_width=_int_value(qt.bit_width, what),
            signed=bool(_np(qt.signed_t).item()) if hasattr(qt, "signed_t") else bool(qt.signed),
            narrow=bool(proxy.is_narrow_range),
            axis=(1 if transpose else 0) if per_channel else None,
        )
    )
    w_t = _np(qt.value).astype(np.float32)
    w_t = np.ascontiguousarray(w_t.T if transpose else w_t)
    # The initializer holds the quantized values; QCDQ must map them onto themselves exactly.
    if not np.array_equal(spec.fake_quant(w_t), w_t):
        raise ValueError(f"{what}: quantized weights are not reproduced by QuantizeLinear/DequantizeLinear")
    return w_t, spec


def _bias_onnx(qb, what: str) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """(int32 values [N], float32 scale () or [N]) of a Brevitas quantized bias; None for no bias."""
    if qb is None:
        return None
    if getattr(qb, "scale", None) is None:
        raise ValueError(f"{what}: bias quantization disabled; only quantized (int) biases are supported")
    scale, _ = _squeeze_channels(_np(qb.scale).astype(np.float32), what)
    if np.any(_np(qb.zero_point) != 0):
        raise ValueError(f"{what}: bias with a non-zero zero point is not supported")
    if _int_value(qb.bit_width, what) > 32:
        raise ValueError(f"{what}: bias wider than 32 bits cannot be expressed in ONNX")
    ints = _np(qb.int()).astype(np.int64).reshape(-1)
    value = _np(qb.value).astype(np.float32).reshape(-1)
    if not np.array_equal((ints.astype(np.float32) * scale).astype(np.float32), value):
        raise ValueError(f"{what}: the int32 * scale bias does not reproduce Brevitas' bias exactly")
    return ints.astype(np.int32), scale


def _capture_gate_params(module) -> dict[int, tuple]:
    """Run one forward with every layer's ``gate_params_fwd`` wrapped, to get exactly the quantized weights
    and biases the forward uses (the bias quantizer needs the runtime input scale).
    Returns {id(GateParams): (quant_weight_ih, quant_weight_hh, quant_bias)}."""
    captured: dict[int, tuple] = {}
    for layer in module.layers:
        for direction in layer:
            orig = direction.gate_params_fwd

            def wrapped(gate, quant_input, _orig=orig):
                result = _orig(gate, quant_input)
                captured[id(gate)] = result
                return result

            direction.gate_params_fwd = wrapped  # instance attribute shadows the staticmethod
    with torch.no_grad():
        module(torch.zeros(2, 1, module.layers[0][0].input_size))
    return captured


def _read_layer(d, captured, name: str) -> LayerOnnx:
    """Read weights, biases and the 11 activation quantizers of one Brevitas _QuantLSTMLayer."""
    cell = d.cell
    acc_q = {
        "input": cell.input_acc_quant,
        "forget": cell.forget_acc_quant,
        "cell": cell.cell_acc_quant,
        "output": cell.output_acc_quant,
    }
    act_q = {
        "input": cell.input_sigmoid_quant,
        "forget": cell.forget_sigmoid_quant,
        "cell": cell.cell_tanh_quant,
        "output": cell.output_sigmoid_quant,
    }
    gates = {}
    for gate in GATES:
        params = getattr(d, f"{gate}_gate_params")
        if params is None:  # forget gate under cifg
            continue
        w_ih, w_hh, bias = captured[id(params)]
        what = f"{name}.{gate}"
        gates[gate] = GateOnnx(
            wx=weight_onnx(w_ih, params.input_weight.weight_quant, f"{what}.input_weight"),
            wh=weight_onnx(w_hh, params.hidden_weight.weight_quant, f"{what}.hidden_weight"),
            bias=_bias_onnx(bias, f"{what}.bias"),
            acc=_act_spec(acc_q[gate], f"{what}_acc_quant"),
            act=_act_spec(act_q[gate], f"{what}_{'tanh' if gate == 'cell' else 'sigmoid'}_quant"),
        )
    cifg_one = None
    if d.cifg:
        # Brevitas: quant_ones = input_sigmoid_quant.tensor_quant(ones); forget = quant_ones - input_gate
        one = torch.ones(1)
        if cell.input_sigmoid_quant.is_quant_enabled:
            with torch.no_grad():
                one = cell.input_sigmoid_quant.fused_activation_quant_proxy.tensor_quant(one)[0]
        cifg_one = float(_np(one).reshape(-1)[0])
    return LayerOnnx(
        name=name,
        input_size=d.input_size,
        hidden=d.hidden_size,
        reverse=bool(d.reverse_input),
        gates=gates,
        cifg_one=cifg_one,
        cell_state=_act_spec(cell.cell_state_quant, f"{name}.cell_state_quant"),
        hidden_tanh=_act_spec(cell.hidden_state_tanh_quant, f"{name}.hidden_state_tanh_quant"),
        output=_act_spec(cell.output_quant, f"{name}.io_quant"),
    )


def export_quant_lstm(
    module,
    path: Optional[str],
    seq_len: Optional[int],
    input_size: Optional[int] = None,
    quant_format: str = "qcdq",
    opset: Optional[int] = None,
) -> onnx.ModelProto:
    """Export a ``brevitas.nn.QuantLSTM`` as one-sequence Scan/QCDQ ONNX (see the module docstring).

    module: the QuantLSTM (not modified: a deep copy is exported, in eval mode).
    path: where to save the model, or None.
    seq_len: T of the input ``X`` [T, I]; None for a symbolic length "T".
    input_size: checked against the module if given.
    quant_format: "qcdq" (QuantizeLinear/Clip/DequantizeLinear) or "quant" (QONNX Quant nodes, via qonnx'
        QCDQToQuant; needs the ``qonnx`` package).
    opset: ONNX opset; default 19, or 21 when some quantizer needs more than 8 bits.
    Raises ValueError for configurations ONNX cannot express.
    """
    from brevitas.nn import QuantLSTM  # pyright: ignore[reportMissingImports]

    if not isinstance(module, QuantLSTM):
        raise ValueError(f"expected a brevitas.nn.QuantLSTM, got {type(module).__name__}")
    module = copy.deepcopy(module).eval()
    # a ModuleList per layer of the directions' layer modules
    stack = cast("Sequence[Sequence[Any]]", module.layers)
    first = stack[0][0]
    if input_size is not None and input_size != first.input_size:
        raise ValueError(f"input_size={input_size} but the module expects {first.input_size}")
    captured = _capture_gate_params(module)
    layers = [
        [_read_layer(d, captured, f"l{li}_{'bwd' if d.reverse_input else 'fwd'}") for d in layer]
        for li, layer in enumerate(stack)
    ]
    input_spec = _act_spec(first.io_quant, "io_quant (input)")

    model = build_model(layers, input_spec, seq_len, opset, quant_format, producer="lstmc.export.brevitas_lstm")
    if path is not None:
        onnx.save(model, str(path))
    return model
