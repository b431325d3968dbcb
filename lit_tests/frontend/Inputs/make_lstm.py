"""Write a small random quantized LSTM: make_lstm.py OUT.onnx [qcdq|quant] [layers] [bidir]."""

import sys

import onnx

from lstmc.testing import LstmSpec, Q, build_lstm

out, fmt = sys.argv[1], sys.argv[2]
layers = int(sys.argv[3]) if len(sys.argv) > 3 else 1
bidir = len(sys.argv) > 4 and sys.argv[4] == "bidir"
spec = LstmSpec(
    input_size=3,
    hidden_size=4,
    seq_len=5,
    num_layers=layers,
    bidirectional=bidir,
    quant_format=fmt,
    weight=Q(4, True, True, 0.25),
    per_channel_weights=False,
)
onnx.save(build_lstm(spec), out)
