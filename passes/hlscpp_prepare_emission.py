"""hlscpp-prepare-emission: make the IR printable as-is (the emitter never changes the IR).

Every named value (function arguments, arrays, streams) gets a legal, unique C++ identifier within its
function (C++ keywords and HLS-reserved names avoided, characters outside [A-Za-z0-9_] replaced, clashes
numbered); loop indices get i, j, k... by nesting depth. Function names are made unique and legal too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, SymbolRefAttr
from xdsl.passes import ModulePass

from lstmc.dialects import hlscpp

RESERVED = {
    "auto", "bool", "break", "case", "char", "class", "const", "continue", "default", "delete", "do", "double",
    "else", "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "new", "operator", "private",
    "protected", "public", "register", "return", "short", "signed", "sizeof", "static", "struct", "switch",
    "template", "this", "typedef", "union", "unsigned", "virtual", "void", "volatile", "while", "main", "hls",
    "std", "ap_int", "ap_uint", "ap_fixed", "ap_ufixed",
}
_LOOP_NAMES = "ijklmnpqrs"


def legal_identifier(name: str) -> str:
    name = re.sub(r"\W", "_", name) or "v"
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if name in RESERVED else name


class _Namer:
    def __init__(self):
        self.used: set[str] = set()

    def take(self, name: str) -> str:
        base = legal_identifier(name)
        # no "_<digits>" suffix: xDSL drops it from name hints
        sep = "n" if base[-1].isdigit() or base[-1] == "_" else ""
        candidate, n = base, 1
        while candidate in self.used:
            candidate, n = f"{base}{sep}{n}", n + 1
        self.used.add(candidate)
        return candidate


@dataclass(frozen=True)
class HlscppPrepareEmissionPass(ModulePass):
    name = "hlscpp-prepare-emission"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        fn_namer = _Namer()
        renamed: dict[str, str] = {}
        for fn in op.ops:
            if isinstance(fn, hlscpp.FuncOp):
                new = fn_namer.take(fn.sym_name.data)
                renamed[fn.sym_name.data] = new
                fn.sym_name = StringAttr(new)
        for fn in op.ops:
            if not isinstance(fn, hlscpp.FuncOp):
                continue
            namer = _Namer()
            namer.used.update(_LOOP_NAMES)  # loop indices i, j, k... are never array or argument names
            fn.arg_names = ArrayAttr([StringAttr(namer.take(n.data)) for n in fn.arg_names.data])
            for inner in fn.walk():
                if isinstance(inner, hlscpp.CallOp):
                    callee = inner.callee.root_reference.data
                    inner.callee = SymbolRefAttr(renamed.get(callee, callee))
                elif isinstance(inner, (hlscpp.ArrayOp, hlscpp.StreamOp)):
                    inner.result.name_hint = namer.take(inner.result.name_hint or "buf")
                elif isinstance(inner, hlscpp.ForOp):
                    depth = sum(1 for p in _parents(inner) if isinstance(p, hlscpp.ForOp))
                    inner.body.block.args[0].name_hint = _LOOP_NAMES[depth % len(_LOOP_NAMES)]
                    if inner.label is not None:  # C++ labels are unique per function
                        inner.label = StringAttr(namer.take(inner.label.data))
                for r in inner.results:
                    if not isinstance(inner, (hlscpp.ArrayOp, hlscpp.StreamOp)):
                        r.name_hint = None  # temporaries print as v<N>


def _parents(op):
    p = op.parent_op()
    while p is not None:
        yield p
        p = p.parent_op()
