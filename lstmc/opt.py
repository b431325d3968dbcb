"""`lstmc-opt`: xdsl-opt with the lstmc dialects, passes and an ONNX frontend (`.onnx` input).

Every user mistake (a bad file, bad IR, a bad `-p` pipeline or option) ends in one line `lstmc-opt: error: ...`
and exit status 1, and `-o FILE` is only written when the whole run succeeded.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from typing import IO, NoReturn

from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.printer import Printer
from xdsl.utils.exceptions import ArgSpecParseError, DiagnosticException, ParseError
from xdsl.xdsl_opt_main import xDSLOptMain

from lstmc import xdsl_guard
from lstmc.errors import LstmcError, one_line

PROG = "lstmc-opt"


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


class _DeferredOutput(io.StringIO):
    """The `-o FILE` stream: kept in memory until the run succeeded (see LstmcOptMain.commit_output)."""

    def close(self) -> None:  # xDSLOptMain.run closes its output stream in a `finally`, even on failure
        pass


class LstmcOptMain(xDSLOptMain):
    def __init__(self, description: str = "lstmc modular optimizer driver", args: Sequence[str] | None = None):
        xdsl_guard.install()  # before anything lexes MLIR text: xDSL's string-literal regex is exponential
        self._deferred: _DeferredOutput | None = None
        super().__init__(description, args)

    def register_all_arguments(self, arg_parser: argparse.ArgumentParser):
        super().register_all_arguments(arg_parser)
        arg_parser.prog = PROG

        def error(message: str) -> NoReturn:  # argparse's usage + status 2 -> the tool's one-line contract
            print(f"{PROG}: error: {message} (see '{PROG} --help')", file=sys.stderr)
            raise SystemExit(1)

        arg_parser.error = error
        arg_parser.add_argument(
            "--seq-len",
            type=int,
            default=None,
            metavar="T",
            help="(ONNX input) the sequence length of a model whose length is symbolic",
        )

    def setup_pipeline(self):
        # xDSL reports a bad option value or an unknown pass as a bare ValueError that does not say where
        try:
            super().setup_pipeline()
        except ValueError as e:
            raise LstmcError(f"-p {self.args.passes!r}: {_one_line(str(e))}") from e
        if self.args.print_between_passes:
            # xDSL's own dump ("IR after X:", none after the last pass) is not MLIR: it reads the flag when a
            # pass ends, so it is switched off here and `_dump_after` prints the dump instead
            self.args.print_between_passes = False
            self.pipeline = dataclasses.replace(self.pipeline, callback=self._dump_after(self.pipeline.callback))

    def _dump_after(self, callback):
        """`--print-between-passes` as mlir-opt's `--mlir-print-ir-after-all`: after every pass a comment header
        `// -----// IR Dump After <pass> //----- //` and the IR, so the whole output parses back (as one module
        holding a module per pass). After the last pass the header is followed by the program output
        itself when that goes to stdout, and by the IR otherwise (with -o, the dumps stay on stdout)."""

        def dump(previous: ModulePass | None, module: ModuleOp, following: ModulePass | None) -> None:
            if callback is not None:
                callback(previous, module, following)  # verification and --time-passes
            if previous is None:
                return
            print(f"// -----// IR Dump After {previous.name} //----- //")
            if following is None and self.args.output_file in (None, "-"):
                return
            Printer(stream=sys.stdout, print_generic_format=self.args.print_op_generic).print_op(module)
            print("\n")

        return dump

    def get_input_stream(self) -> tuple[IO[bytes], str]:
        if self.args.input_file == "-":  # mlir-opt's spelling of stdin
            self.args.input_file = None
        return super().get_input_stream()

    def prepare_input(self):
        try:
            return super().prepare_input()
        except ValueError as e:  # "Unrecognized file extension 'txt'", without the file or the way out
            frontends = ", ".join(self.available_frontends)
            raise LstmcError(f"{self.get_input_name()}: {e} (use -f to choose one of: {frontends})") from e

    def prepare_output(self) -> IO[str]:
        if self.args.output_file in (None, "-"):
            return sys.stdout
        _check_output_path(self.args.output_file)
        self._deferred = _DeferredOutput()
        return self._deferred

    def commit_output(self) -> None:
        """Write `-o FILE` in one step (temporary file beside it, then rename) after the run succeeded."""
        if self._deferred is None:
            return
        path = self.args.output_file
        directory = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(self._deferred.getvalue())
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # what open(path, "w") would have given, not mkstemp's 0600
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

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
            from lstmc.pipeline import apply_pipeline

            # like CIRCT's ExportVerilog: names are legalized (on a copy) whatever pipeline ran before, so
            # hand-written or hostile hlscpp IR cannot put text into the C++ as code
            emit_hls_cpp(apply_pipeline(module.clone(), ["hlscpp-prepare-emission"]), output)

        self.available_targets["hls-cpp"] = hls_cpp

    def register_all_frontends(self):
        super().register_all_frontends()

        def parse_mlir(io: IO[bytes]):
            return xdsl_guard.parse_mlir(self.ctx, io.read(), self.get_input_name(), not self.args.no_implicit_module)

        self.available_frontends["mlir"] = parse_mlir

        def parse_onnx(io: IO[bytes]):
            from lstmc.frontend import bind_sequence_length, load_onnx_bytes
            from lstmc.frontend.onnx_import import import_model

            model = load_onnx_bytes(io.read(), self.get_input_name())
            seq_len = self.args.seq_len
            if seq_len is not None and seq_len < 1:
                raise LstmcError(f"--seq-len must be a positive sequence length, got {seq_len}")
            return import_model(bind_sequence_length(model, seq_len=seq_len))

        self.available_frontends["onnx"] = parse_onnx


def _check_output_path(path: str) -> None:
    """Refuse an -o that cannot be written before doing any work."""
    if not path:
        raise LstmcError("-o: empty output path")
    if os.path.isdir(path):
        raise LstmcError(f"-o {path}: is a directory, expected a file")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise LstmcError(f"-o {path}: directory {directory} does not exist")


_CARETS = re.compile(r"\s*\^+\s*")


def _one_line(text: str) -> str:
    """xDSL messages quote the source with a caret line under it; keep the location and the message only."""
    lines = [line for line in text.splitlines() if line.strip()]
    keep = [
        line.strip()
        for i, line in enumerate(lines)
        if not _CARETS.fullmatch(line) and not (i + 1 < len(lines) and _CARETS.fullmatch(lines[i + 1]))
    ]
    return " ".join(keep) if keep else text.strip()


def _parse_error(e: ParseError) -> str:
    return f"{e.span.get_location()}: {_one_line(e.msg)}"


def _spec_error(e: ArgSpecParseError) -> str:
    """xDSL's 'Error parsing pass pipeline specification:', 'pass-pipeline:1:6', the spec, carets, message."""
    lines = str(e).splitlines()
    loc = next((i for i, line in enumerate(lines) if re.fullmatch(r"pass-pipeline:\d+:\d+", line.strip())), None)
    if loc is None or loc + 3 >= len(lines):
        return _one_line(str(e))
    column = lines[loc].rsplit(":", 1)[1]
    return f"cannot parse the pass specification {lines[loc + 1]!r} at column {column}: {lines[loc + 3].strip()}"


def main(argv: Sequence[str] | None = None) -> int:
    tool = None
    try:
        tool = LstmcOptMain(description="lstmc modular optimizer driver", args=argv)
        tool.run()
        tool.commit_output()
        return 0
    except SystemExit as e:  # --help/--version (0), a usage error (1, its line already printed), --shrink
        return e.code if isinstance(e.code, int) else 1
    except LstmcError as e:
        message = str(e)
    except ParseError as e:
        message = _parse_error(e)
    except ArgSpecParseError as e:  # a BaseException in xDSL: `-p ',,,'`, `-p 'name{'`, `-t 'x{'`
        message = _spec_error(e)
    except DiagnosticException as e:  # VerifyException, PassFailedException, ...
        message = _one_line(str(e))
    except RecursionError:
        # xDSL parses, verifies and prints nested regions recursively (about 160 nested modules fit)
        name = tool.get_input_name() if tool is not None else "the input"
        message = f"{name}: the IR is nested too deeply for lstmc-opt"
    except OSError as e:
        name = e.filename or repr(e.filename)  # open('') names no file
        message = f"{name}: {e.strerror}" if e.filename is not None and e.strerror else str(e)
    except ValueError as e:  # xDSL: unrecognized file extension, bad -t options, ...
        message = _one_line(str(e))
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
