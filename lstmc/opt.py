"""`lstmc-opt`: xdsl-opt with the lstmc dialects, passes and an ONNX frontend (`.onnx` input)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

from xdsl.utils.exceptions import DiagnosticException, ParseError, PassFailedException, VerifyException
from xdsl.xdsl_opt_main import xDSLOptMain

from lstmc.errors import LstmcError


def get_all_dialects():
    def qrnn():
        from lstmc.dialects.qrnn import QRNN

        return QRNN

    def dataflow():
        from lstmc.dialects.dataflow import DATAFLOW

        return DATAFLOW

    def hlscpp():
        from lstmc.dialects.hlscpp import HLSCPP

        return HLSCPP

    return {"qrnn": qrnn, "dataflow": dataflow, "hlscpp": hlscpp}


class LstmcOptMain(xDSLOptMain):
    def register_all_dialects(self):
        super().register_all_dialects()
        for name, factory in get_all_dialects().items():
            self.ctx.register_dialect(name, factory)

    def register_all_passes(self):
        super().register_all_passes()
        from lstmc.passes import get_all_passes

        for name, factory in get_all_passes().items():
            self.register_pass(name, factory)

    def register_all_targets(self):
        super().register_all_targets()

        def hls_cpp(module, output):
            from lstmc.hls.emit import emit_hls_cpp

            emit_hls_cpp(module, output)

        self.available_targets["hls-cpp"] = hls_cpp

    def register_all_frontends(self):
        super().register_all_frontends()

        def parse_onnx(io: IO[bytes]):
            from lstmc.frontend import load_onnx_bytes
            from lstmc.frontend.onnx_import import import_model

            return import_model(load_onnx_bytes(io.read(), self.get_input_name()))

        self.available_frontends["onnx"] = parse_onnx


def main(argv: Sequence[str] | None = None) -> int:
    try:
        LstmcOptMain(description="lstmc modular optimizer driver", args=argv).run()
    except LstmcError as e:
        print(f"lstmc-opt: error: {e}", file=sys.stderr)
        return 1
    except (ParseError, VerifyException, DiagnosticException, PassFailedException) as e:
        print(f"lstmc-opt: error: {e}", file=sys.stderr)
        return 1
    except (FileNotFoundError, IsADirectoryError, ValueError) as e:
        print(f"lstmc-opt: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
