"""Write a random quantized LSTM of given sizes: make_sized_lstm.py OUT.onnx I H T [layers] [bidir]."""

import sys

import onnx

from lstmc.testing import LstmSpec, Q, build_lstm

out, i, h, t = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
layers = int(sys.argv[5]) if len(sys.argv) > 5 else 1
bidir = len(sys.argv) > 6 and sys.argv[6] == "bidir"
spec = LstmSpec(
    input_size=i, hidden_size=h, seq_len=t, num_layers=layers, bidirectional=bidir, weight=Q(4, True, True, 0.25)
)
onnx.save(build_lstm(spec), out)
