"""Guards around xDSL's MLIR text parser for untrusted input (lstmc-opt reads whatever file it is given).

xDSL 0.74 lexes a string literal with `"(?:[^"\\\n\v\f]+|\\(?:["nt\\]|[0-9A-Fa-f]{2}))*"`: a `+` inside a `*`.
When the closing quote is missing, the regex engine tries every way of cutting the text into runs before it
gives up, 2^n steps for n characters (24 characters of a truncated `dense<"0x...` take seconds, 40 take hours).
`install()` replaces it with the same language written as an unrolled loop (Friedl): runs of plain characters
separated by escapes, where a run can only end at a backslash, a quote or a line end. There is one way to match
any prefix, so a literal without its quote is rejected in a single linear pass.
"""

from __future__ import annotations

import re

from xdsl.utils.mlir_lexer import MLIRLexer

_PLAIN = r'[^"\\\n\v\f]'
_ESCAPE = r'\\(?:["nt\\]|[0-9A-Fa-f]{2})'
LINEAR_STRING_LITERAL = re.compile(rf'"{_PLAIN}*(?:{_ESCAPE}{_PLAIN}*)*"')


def install() -> None:
    """Make MLIRLexer's string-literal scan linear (idempotent; affects every Parser in this process)."""
    if not isinstance(getattr(MLIRLexer, "_unescaped_characters_regex", None), re.Pattern):
        # A different xDSL lexes strings differently: fail loudly rather than silently leave the hang in place.
        raise RuntimeError("xdsl's MLIRLexer._unescaped_characters_regex is gone; review lstmc.xdsl_guard")
    MLIRLexer._unescaped_characters_regex = LINEAR_STRING_LITERAL


def parse_mlir(ctx, data: bytes | str, name: str, implicit_module: bool = True):
    """Parse MLIR text from an untrusted file: the lexer guard installed, undecodable bytes refused by name."""
    from xdsl.parser import Parser

    from lstmc.errors import LstmcError

    install()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise LstmcError(
                f"{name}: not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}); MLIR input must be text "
                "(an ONNX model needs the .onnx extension or -f onnx)"
            ) from None
    return Parser(ctx, data, name).parse_module(implicit_module)
