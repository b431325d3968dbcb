"""Command-line option types and help texts shared by the `lstmc` subcommands (lstmc/cli.py, lstmc/estimate.py)."""

from __future__ import annotations

import argparse

SEQ_LEN_HELP = "sequence length T for a model whose inputs declare it symbolic (e.g. [None, I, 1])"


def int_option(low: int, high: int = 2**31 - 1):
    """An integer option in [low, high]; the check happens while parsing, so the message names the option."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}, got {value}")
        return value

    return parse
