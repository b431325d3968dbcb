"""User-facing errors: the CLI prints the message on one line and exits with status 1 (no traceback)."""


class LstmcError(Exception):
    """A problem with the user's input (model, option, data), with a message that says what is wrong."""


def one_line(message: object) -> str:
    """`message` as one printable line: names inside it come from the model and may hold newlines, carriage
    returns, escape sequences or bidirectional overrides, which must not forge extra lines on the terminal."""
    out = []
    for ch in str(message):
        code = ord(ch)
        if ch == "\\" or ch.isprintable() or ch == " ":
            out.append(ch)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        else:
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)
