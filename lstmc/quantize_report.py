"""`lstmc quantize`: the accuracy report of the quantized model against the float one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from lstmc.export.scan_gru import GruLayerOnnx
from lstmc.export.scan_lstm import (
    QuantSpec,
)
from lstmc.quantize_config import QuantConfig


# ------------------------------------------------------------------------------------------------ report
@dataclass
class OutputReport:
    """Quantized vs float model on one graph output, over every calibration sequence."""

    name: str
    max_abs_error: float
    mean_abs_error: float
    sqnr_db: float
    mse_float: Optional[float] = None  # vs the targets in the data, when present
    mse_quantized: Optional[float] = None


@dataclass
class QuantReport:
    sequences: int
    outputs: list[OutputReport]
    nodes: dict[str, dict]  # LSTM/GRU node name -> summary of its quantizers
    quantized_source: str = "onnxruntime"  # or "qrnn" when onnxruntime cannot run the quantized model
    notes: list[str] = field(default_factory=list)

    def output(self, name: str) -> OutputReport:
        return next(o for o in self.outputs if o.name == name)

    def format(self) -> str:
        lines = [f"{name}: {', '.join(f'{k} {v}' for k, v in info.items())}" for name, info in self.nodes.items()]
        lines.append(
            f"quantized vs float model on {self.sequences} calibration sequence(s)"
            + (
                ""
                if self.quantized_source == "onnxruntime"
                else f" (quantized outputs from the {self.quantized_source} stage)"
            )
            + ":"
        )
        targets = any(o.mse_float is not None for o in self.outputs)
        head = f"{'output':<16} {'max abs err':>12} {'mean abs err':>12} {'SQNR dB':>8}"
        if targets:
            head += f" {'MSE float':>11} {'MSE quant':>11} {'change':>9}"
        lines.append(head)
        for o in self.outputs:
            row = f"{o.name:<16} {o.max_abs_error:>12.4g} {o.mean_abs_error:>12.4g} {o.sqnr_db:>8.2f}"
            if o.mse_float is not None:
                assert o.mse_quantized is not None  # both are measured when the data has targets
                change = o.mse_quantized - o.mse_float
                row += f" {o.mse_float:>11.4g} {o.mse_quantized:>11.4g} {change:>+9.2g}"
            lines.append(row)
        lines.extend(self.notes)
        return "\n".join(lines) + "\n"


def sqnr_db(reference: np.ndarray, approx: np.ndarray) -> float:
    """10 log10(signal power / noise power); inf when equal."""
    ref = np.asarray(reference, np.float64)
    noise = float(np.sum((np.asarray(approx, np.float64) - ref) ** 2))
    signal = float(np.sum(ref**2))
    if noise == 0:
        return math.inf
    if signal == 0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def needs_int16_clip(layers: list, specs: list[QuantSpec]) -> bool:
    every = specs + [s for lay in layers for s in lay.specs()]
    return any(s is not None and s.bit_width > 8 and s.needs_clip for s in every)


def node_summary(cfg: QuantConfig, input_spec: QuantSpec, layers: list) -> dict:
    def bits_scale(spec: QuantSpec | None) -> str:
        assert spec is not None  # the layers are calibrated
        return f"{spec.bit_width}b s={float(np.asarray(spec.scale).reshape(-1)[0]):.4g}"

    first = layers[0]
    state = (
        {"products": bits_scale(first.product)}
        if isinstance(first, GruLayerOnnx)
        else {"c": bits_scale(first.cell_state)}
    )
    return {
        "directions": "+".join("bwd" if lay.reverse else "fwd" for lay in layers),
        "weights": f"{cfg.weight_bits}b {'per-channel' if cfg.weight_per_channel else 'per-tensor'}",
        "x": bits_scale(input_spec),
        "h": bits_scale(first.output),
        **state,
        "acc": f"{cfg.acc_bits}b",
        "sigmoid": f"{cfg.sigmoid_bits}b",
        "tanh": f"{cfg.tanh_bits}b",
        "calibration": cfg.calibration + (", power-of-two scales" if cfg.power_of_two else ""),
    }
