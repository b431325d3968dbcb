"""FPGA parts and boards lstmc knows, with their resource totals, and the checks on `--part`/`--clock-ns`.

A part name is written into run_hls.tcl and chosen by the user, so it is untrusted text: only names from this
table (or a board alias) are accepted, and every one of them matches the shape of a Xilinx part name, which
contains nothing TCL could interpret. Totals are from the AMD/Xilinx product tables (BRAM counted as BRAM18
halves of the BRAM36 blocks); the QoR model reports utilisation against them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from lstmc.errors import LstmcError


@dataclass(frozen=True)
class Part:
    """An FPGA part and its resource totals."""

    name: str
    lut: int
    ff: int
    bram18: int
    dsp: int
    uram: int = 0
    board: str = ""


_TABLE = [
    Part("xczu7ev-ffvc1156-2-e", lut=230400, ff=460800, bram18=624, dsp=1728, uram=96, board="zcu104"),
    Part("xczu9eg-ffvb1156-2-e", lut=274080, ff=548160, bram18=1824, dsp=2520, uram=0, board="zcu102"),
    Part("xczu3eg-sbva484-1-e", lut=70560, ff=141120, bram18=432, dsp=360, uram=0, board="ultra96v2"),
    Part("xck26-sfvc784-2LV-c", lut=117120, ff=234240, bram18=288, dsp=1248, uram=64, board="kv260"),
    Part("xc7z020clg400-1", lut=53200, ff=106400, bram18=280, dsp=220, uram=0, board="pynq-z2"),
    Part("xcu250-figd2104-2L-e", lut=1728000, ff=3456000, bram18=5376, dsp=12288, uram=1280, board="u250"),
    Part("xcu280-fsvh2892-2L-e", lut=1303680, ff=2607360, bram18=4032, dsp=9024, uram=960, board="u280"),
    Part("xcu55c-fsvh2892-2L-e", lut=1303680, ff=2607360, bram18=4032, dsp=9024, uram=960, board="u55c"),
]
PARTS: dict[str, Part] = {p.name: p for p in _TABLE}
BOARDS: dict[str, Part] = {p.board: p for p in _TABLE}
DEFAULT_PART = PARTS["xczu7ev-ffvc1156-2-e"]
DEFAULT_CLOCK_NS = 5.0

# The shape of a Xilinx part name: device, package/speed/temperature fields; letters, digits and '-' only.
_PART_NAME = re.compile(r"x[a-z0-9]+(-[a-z0-9]+)*", re.IGNORECASE)
assert all(_PART_NAME.fullmatch(p.name) for p in _TABLE)


def resolve_part(name: str) -> Part:
    """The part called `name` (a part name, case-insensitive, or a board name such as `zcu104`)."""
    key = name.strip()
    by_lower = {p.name.lower(): p for p in _TABLE}
    part = by_lower.get(key.lower()) or BOARDS.get(key.lower())
    if part is not None:
        return part
    shape = "" if _PART_NAME.fullmatch(key) else " and is not shaped like a Xilinx part name"
    raise LstmcError(
        f"--part {name!r} is not a part lstmc knows{shape}; known parts: {', '.join(PARTS)}; boards: {', '.join(BOARDS)}"
    )


def check_clock_ns(clock_ns: float) -> float:
    """A clock period in ns that Vitis HLS can take: finite, between 0.5 ns (2 GHz) and 1000 ns (1 MHz)."""
    if not isinstance(clock_ns, (int, float)) or not math.isfinite(clock_ns) or not 0.5 <= clock_ns <= 1000:
        raise LstmcError(f"--clock-ns must be a finite period between 0.5 and 1000 ns, got {clock_ns}")
    return float(clock_ns)
