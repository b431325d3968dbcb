"""lstmc: a compiler of quantized LSTMs (ONNX) to Vitis HLS C++, on xDSL.

`lstmc.load(model)` is the Python API (lstmc/api.py); `lstmc` and `lstmc-opt` are the command-line tools.
"""

from lstmc.api import Design, FitWarning, load  # noqa: F401 (the public API; lstmc.api imports lazily)

__all__ = ["Design", "FitWarning", "load"]
