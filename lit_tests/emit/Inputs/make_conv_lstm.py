"""Write a small random quantized ConvLSTM (lstmc.testing.build_conv_lstm): make_conv_lstm.py OUT.onnx."""

import sys

import onnx

from lstmc.testing import ConvLstmSpec, LstmSpec, build_conv_lstm

onnx.save(build_conv_lstm(ConvLstmSpec(lstm=LstmSpec(hidden_size=4))), sys.argv[1])
