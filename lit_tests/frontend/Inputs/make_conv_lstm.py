"""Write a small DeepLOB-style quantized ConvLSTM (lstmc.testing.build_conv_lstm): make_conv_lstm.py OUT.onnx."""

import sys

import onnx

from lstmc.testing import ConvLstmSpec, build_conv_lstm

onnx.save(build_conv_lstm(ConvLstmSpec()), sys.argv[1])
