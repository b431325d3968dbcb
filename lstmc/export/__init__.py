"""Exporters from training frameworks to the ONNX formats lstmc compiles.

Only this subpackage imports torch/brevitas, and only lazily: importing ``lstmc.export`` itself works
without them; calling an exporter needs them.
"""


def export_quant_lstm(*args, **kwargs):
    """Export a ``brevitas.nn.QuantLSTM`` to Scan/QCDQ ONNX; see ``lstmc.export.brevitas_lstm``."""
    from lstmc.export.brevitas_lstm import export_quant_lstm as _export

    return _export(*args, **kwargs)


__all__ = ["export_quant_lstm"]
