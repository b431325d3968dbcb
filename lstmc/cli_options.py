"""Command-line option types and help texts shared by the `lstmc` subcommands (lstmc/cli.py, lstmc/estimate.py)."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable

SEQ_LEN_HELP = "sequence length T for a model whose inputs declare it symbolic (e.g. [None, I, 1])"
AXIS_BITS_HELP = (
    "TDATA width of every AXI4-Stream port, a multiple of 8 from 8 to 1024: each beat packs N // b codes of b "
    "bits (default 0: one code per beat, b rounded up to bytes); TLAST ends every inference"
)


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


def report_warnings(caught: list[warnings.WarningMessage], ours: type[Warning]) -> None:
    """Warnings recorded around a command (`catch_warnings(record=True)` catches every one): ours becomes a
    `lstmc: warning:` line on stderr, any other is issued again as it was."""
    for w in caught:
        if issubclass(w.category, ours):
            print(f"lstmc: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def add_folding_options(
    p: argparse.ArgumentParser, folding_type: Callable[[str], str] = str, folding_default: str | None = None
) -> None:
    """--folding, --pe, --simd and --target-cycles, as `compile` and `estimate` take them (one mode at a time:
    qrnn-set-folding)."""
    p.add_argument(
        "--folding",
        type=folding_type,
        default=folding_default,
        metavar="F.json",
        help='JSON folding config keyed by unit name, e.g. {"<scan node>/gates": {"PE": 4, "SIMD": 2}}',
    )
    p.add_argument("--pe", type=int_option(0), default=0, help="PE (rows in parallel) of every MVAU")
    p.add_argument("--simd", type=int_option(0), default=0, help="SIMD (columns in parallel) of every MVAU")
    p.add_argument(
        "--target-cycles",
        type=int_option(0),
        default=0,
        metavar="N",
        help="the cheapest folding with at most N cycles per inference",
    )


def add_part_options(p: argparse.ArgumentParser) -> None:
    """--part or --board, the FPGA the estimate and the project target."""
    from lstmc.parts import BOARDS, DEFAULT_PART

    target = p.add_mutually_exclusive_group()
    target.add_argument(
        "--part",
        metavar="PART",
        help=f"FPGA part or board name (default: {DEFAULT_PART.name}, ZCU104's); see lstmc/parts.py",
    )
    target.add_argument("--board", metavar="BOARD", help=f"board whose part to use: {', '.join(BOARDS)}")
