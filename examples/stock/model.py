"""StockNet: a small DeepLOB-style quantized ConvLSTM for mid-price direction on limit-order-book windows.

Input [B, T, 40] (z-scored LOB features, FI-2010 column order: per level ask price, ask volume, bid price,
bid volume), output logits [B, 3] (0 = up, 1 = stationary, 2 = down)::

    x -> QuantIdentity (input quant) -> [B, 1, T, 40]
      -> QuantConv2d(1 -> C1, kernel (1, 2), stride (1, 2)) -> QuantReLU      [B, C1, T, 20]  price/volume pairs
      -> QuantConv2d(C1 -> C2, kernel (1, 2), stride (1, 2)) -> QuantReLU     [B, C2, T, 10]  ask/bid per level
      -> QuantConv2d(C2 -> C3, kernel (1, 10))                -> QuantReLU    [B, C3, T, 1]   all levels
      -> [B, T, C3] -> QuantLSTM(C3, H, batch_first=True) -> h_T [B, H]
      -> QuantLinear(H, 3) -> output quantizer -> logits [B, 3]

The convolutions run only along the level axis (kernel height 1), one event at a time, which is what the lstmc
compiler supports. Every quantizer has a power-of-two scale (Brevitas' *FixedPoint quantizers, Int32Bias for the
biases), so every product and sum of the forward is exact in float32 and any accumulation order (torch,
onnxruntime, integer hardware) gives the same bits.

A `StockConfig` holds the sizes and all bit widths; `CONFIGS` has the named ones of the mixed-precision sweep.
Keep activation quantizers at <= 8 or exactly 16 bits: 9..15-bit ones become int16 QuantizeLinear + Clip, and
onnxruntime has no int16 Clip kernel (the ONNX would be valid but could not be checked).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch  # pyright: ignore[reportMissingImports]
from brevitas.nn import (  # pyright: ignore[reportMissingImports]
    QuantConv2d,
    QuantIdentity,
    QuantLinear,
    QuantLSTM,
    QuantReLU,
)
from brevitas.quant import (  # pyright: ignore[reportMissingImports]
    Int8ActPerTensorFixedPoint,
    Int8WeightPerTensorFixedPoint,
    Int32Bias,
    Uint8ActPerTensorFixedPoint,
)
from brevitas.quant_tensor import IntQuantTensor  # pyright: ignore[reportMissingImports]
from torch import nn  # pyright: ignore[reportMissingImports]

N_FEATURES = 40
N_CLASSES = 3


@dataclass(frozen=True)
class StockConfig:
    name: str = "w8"
    T: int = 50  # events per window
    C1: int = 8
    C2: int = 8
    C3: int = 16
    H: int = 16
    # front end
    input_bits: int = 8  # input QuantIdentity (signed)
    weight_bits: int = 8  # conv weights
    act_bits: int = 8  # QuantReLU outputs (unsigned)
    # QuantLSTM
    lstm_weight_bits: int = 8
    lstm_io_bits: int = 8  # input and hidden state (shared io_quant)
    lstm_acc_bits: int = 16  # gate accumulators
    lstm_sigmoid_bits: int = 8  # unsigned
    lstm_tanh_bits: int = 8
    lstm_cell_bits: int = 16
    # classifier head
    head_weight_bits: int = 8
    head_out_bits: int = 8  # logits quantizer (signed)
    # activation quantizers collect runtime statistics for this many calls in training mode, then their
    # (power-of-two) scale becomes a learned parameter. Quantizers inside the LSTM are called T times a forward.
    stats_steps: int = 30

    def replace(self, **kw) -> "StockConfig":
        return dataclasses.replace(self, **kw)

    def activation_bit_widths(self) -> dict[str, int]:
        return {
            k: getattr(self, k)
            for k in (
                "input_bits",
                "act_bits",
                "lstm_io_bits",
                "lstm_acc_bits",
                "lstm_sigmoid_bits",
                "lstm_tanh_bits",
                "lstm_cell_bits",
                "head_out_bits",
            )
        }


# The mixed-precision sweep. Accumulators stay 16 bit; activations are 8 or 16 bit (see the module docstring).
CONFIGS: dict[str, StockConfig] = {
    "w8": StockConfig(name="w8"),
    "w6": StockConfig(
        name="w6",
        weight_bits=6,
        lstm_weight_bits=6,
        head_weight_bits=6,
        lstm_sigmoid_bits=6,
        lstm_tanh_bits=6,
        lstm_cell_bits=8,
    ),
    "w4": StockConfig(
        name="w4",
        weight_bits=4,
        lstm_weight_bits=4,
        head_weight_bits=4,
        lstm_sigmoid_bits=4,
        lstm_tanh_bits=4,
        lstm_cell_bits=6,
        act_bits=6,
    ),
}


def get_config(name: str, **overrides) -> StockConfig:
    if name not in CONFIGS:
        raise ValueError(f"unknown config {name!r}; choose one of {', '.join(CONFIGS)}")
    return CONFIGS[name].replace(**overrides) if overrides else CONFIGS[name]


def check_config(cfg: StockConfig) -> None:
    for k, v in dataclasses.asdict(cfg).items():
        if k.endswith("_bits") and not 2 <= v <= 16:
            raise ValueError(f"{k}={v}: bit widths must be between 2 and 16")
    for k, v in cfg.activation_bit_widths().items():
        if 8 < v < 16:
            raise ValueError(f"{k}={v}: use <= 8 or 16 bits for activations (onnxruntime has no int16 Clip)")
    for k in ("T", "C1", "C2", "C3", "H", "stats_steps"):
        if getattr(cfg, k) < 1:
            raise ValueError(f"{k} must be positive")


class StockNet(nn.Module):
    def __init__(self, config: StockConfig = CONFIGS["w8"]):
        super().__init__()
        check_config(config)
        self.config = c = config
        # keyword arguments shared by several layers (brevitas' own annotations are narrower than what it takes)
        act: dict[str, Any] = dict(collect_stats_steps=c.stats_steps)
        self.input_quant = QuantIdentity(
            act_quant=Int8ActPerTensorFixedPoint, bit_width=c.input_bits, return_quant_tensor=True, **act
        )
        conv: dict[str, Any] = dict(
            weight_quant=Int8WeightPerTensorFixedPoint, weight_bit_width=c.weight_bits, bias=True, bias_quant=Int32Bias
        )
        relu: dict[str, Any] = dict(
            act_quant=Uint8ActPerTensorFixedPoint, bit_width=c.act_bits, return_quant_tensor=True, **act
        )
        self.conv1 = QuantConv2d(1, c.C1, kernel_size=(1, 2), stride=(1, 2), **conv)
        self.relu1 = QuantReLU(**relu)
        self.conv2 = QuantConv2d(c.C1, c.C2, kernel_size=(1, 2), stride=(1, 2), **conv)
        self.relu2 = QuantReLU(**relu)
        self.conv3 = QuantConv2d(c.C2, c.C3, kernel_size=(1, 10), **conv)
        self.relu3 = QuantReLU(**relu)
        steps = {f"{p}_collect_stats_steps": c.stats_steps for p in ("io", "gate_acc", "sigmoid", "tanh", "cell_state")}
        lstm: dict[str, Any] = dict(
            weight_quant=Int8WeightPerTensorFixedPoint,
            weight_bit_width=c.lstm_weight_bits,
            bias_quant=Int32Bias,
            io_quant=Int8ActPerTensorFixedPoint,
            io_bit_width=c.lstm_io_bits,
            gate_acc_quant=Int8ActPerTensorFixedPoint,
            gate_acc_bit_width=c.lstm_acc_bits,
            sigmoid_quant=Uint8ActPerTensorFixedPoint,
            sigmoid_bit_width=c.lstm_sigmoid_bits,
            tanh_quant=Int8ActPerTensorFixedPoint,
            tanh_bit_width=c.lstm_tanh_bits,
            cell_state_quant=Int8ActPerTensorFixedPoint,
            cell_state_bit_width=c.lstm_cell_bits,
            **steps,
        )
        self.lstm = QuantLSTM(c.C3, c.H, batch_first=True, return_quant_tensor=True, **lstm)
        self.head = QuantLinear(
            c.H,
            N_CLASSES,
            bias=True,
            weight_quant=Int8WeightPerTensorFixedPoint,
            weight_bit_width=c.head_weight_bits,
            bias_quant=Int32Bias,
            output_quant=Int8ActPerTensorFixedPoint,
            output_bit_width=c.head_out_bits,
            output_collect_stats_steps=c.stats_steps,
            return_quant_tensor=False,
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Conv front end: [B, T, 40] -> float [B, T, C3] (values on the last ReLU's quantization grid)."""
        if x.dim() != 3 or x.shape[-1] != N_FEATURES:
            raise ValueError(f"StockNet expects [B, T, {N_FEATURES}], got {list(x.shape)}")
        b, t, _ = x.shape
        q = self.input_quant(x.reshape(b, 1, t, N_FEATURES))  # elementwise: same as quantizing, then viewing
        q = self.relu1(self.conv1(q))
        q = self.relu2(self.conv2(q))
        q = self.relu3(self.conv3(q))  # [B, C3, T, 1]
        return q.value.squeeze(-1).transpose(1, 2)  # [B, T, C3]; the LSTM's io_quant requantizes it

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.features(x))  # IntQuantTensor [B, T, H]
        h_last = IntQuantTensor(
            out.value[:, -1, :], out.scale, out.zero_point, out.bit_width, out.signed_t, out.training_t
        )
        return self.head(h_last)  # quantized logits [B, 3]
