"""Write FINN-GL's reference cell (lstmc.testing_finn_cell): make_finn_cell.py OUT.onnx [T|symbolic] [diff].

I = 2, H = 3, 8-bit weights, 4-bit activations, 5-bit sigmoid outputs, power-of-two scales; `diff` dequantizes the
forget gate's pre-activation with another scale than it was quantized with.
"""

import sys

import onnx

from lstmc.testing_finn_cell import FinnCellSpec, build_finn_cell

out = sys.argv[1]
seq = sys.argv[2] if len(sys.argv) > 2 else "symbolic"
spec = FinnCellSpec(
    input_size=2,
    hidden_size=3,
    weight_bits=8,
    act_bits=4,
    sigmoid_bits=5,
    same_qdq_scale="diff" not in sys.argv[3:],
    seq_len=None if seq == "symbolic" else int(seq),
)
onnx.save(build_finn_cell(spec), out)
