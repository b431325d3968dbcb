"""Write a ConvLSTM whose convolutions are 2-d (lstmc.testing.build_conv_lstm): make_conv2d_lstm.py OUT.onnx.
X [10, 5] -> 3 x 3 conv, stride 1, 3 channels -> 3 x 2 conv, strides (2, 2), 4 channels -> LSTM over the
3 output rows (H = 4) -> dense head."""

import sys

import onnx

from lstmc.testing import ConvLstmSpec, LstmSpec, build_conv_lstm

spec = ConvLstmSpec(features=5, seq_len=10, convs=[(3, 3, 1, 3, 1), (4, 2, 2, 3, 2)], lstm=LstmSpec(hidden_size=4))
onnx.save(build_conv_lstm(spec), sys.argv[1])
