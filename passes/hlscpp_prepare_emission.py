"""hlscpp-prepare-emission: make the IR printable as-is (the emitter never changes the IR).

Every name in a model is untrusted text, and this pass is the one place that turns names into C++: every
named value (function arguments, arrays, streams), function and loop label gets a legal, unique C++
identifier within its scope. Legal means ASCII `[A-Za-z_][A-Za-z0-9_]*`, not a C++ keyword or alternative
token, not a name the C/C++ implementation reserves (`__x`, `_X`) and not a common macro or HLS library name
(CIRCT's name legalization in PrepareForEmission is the model). Other characters become '_', clashes are
numbered; loop indices get i, j, k... by nesting depth. Original names stay in the IR (`lstmc.*` attributes)
and reach the C++ only inside escaped comments and string literals (`c_comment`, `c_string`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, ModuleOp, StringAttr, SymbolRefAttr
from xdsl.passes import ModulePass

from lstmc.dialects import hlscpp

# C++20 keywords and alternative tokens, C macros a testbench's headers may define, and the names of the
# kernel's own headers, namespaces and types (a kernel argument called `ap_int` would hide the type).
CPP_KEYWORDS = frozenset(
    "alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t char32_t class "
    "compl concept const consteval constexpr constinit const_cast continue co_await co_return co_yield decltype "
    "default delete do double dynamic_cast else enum explicit export extern false float for friend goto if inline "
    "int long mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public "
    "register reinterpret_cast requires return short signed sizeof static static_assert static_cast struct switch "
    "template this thread_local throw true try typedef typeid typename union unsigned using virtual void volatile "
    "wchar_t while xor xor_eq".split()
)
RESERVED = CPP_KEYWORDS | frozenset(
    "main NULL EOF assert errno stdin stdout stderr offsetof setjmp va_arg va_start va_end FILE std hls "
    "ap_int ap_uint ap_fixed ap_ufixed ap_int_base ap_fixed_base ap_bit_ref ap_range_ref size_t int8_t int16_t "
    "int32_t int64_t uint8_t uint16_t uint32_t uint64_t lstmc_tb".split()
)
MAX_IDENTIFIER = 64  # long enough for any generated name; keeps a hostile 1 MB name out of the C++
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOP_NAMES = "ijklmnpqrs"


def is_cpp_identifier(name: str, max_len: int | None = MAX_IDENTIFIER) -> str | None:
    """None if `name` can be printed as a C++ identifier as it is, else the reason why not."""
    if not _IDENTIFIER.fullmatch(name):
        return "it must be ASCII letters, digits and '_', not starting with a digit"
    if max_len and len(name) > max_len:
        return f"it is longer than {max_len} characters"
    if name in RESERVED:
        return "it is a C++ keyword or a name reserved by C++, its libraries or Vitis HLS"
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        return "names starting with '__' or '_' and a capital letter are reserved for the C++ implementation"
    return None


def legal_identifier(name: str) -> str:
    """The nearest legal identifier to `name` (not yet unique)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", name)[: MAX_IDENTIFIER - 8] or "v"  # room for a clash number
    if name[0].isdigit():
        name = "_" + name
    if name.startswith("__") or re.match(r"_[A-Z]", name):
        name = "v" + name
    # v<N> are the emitter's temporaries
    return name + "_" if name in RESERVED or re.fullmatch(r"v\d+", name) else name


def c_string(text: str) -> str:
    """`text` as a C/C++ string literal, printable ASCII only: quotes, backslashes and every other byte
    escaped; '?' escaped too so no trigraph (`??/` is a backslash in C++14) can form."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '"\\?':
            out.append("\\" + ch)
        elif 0x20 <= byte < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\{byte:03o}")  # octal: exactly 3 digits, so a following digit is not absorbed
    return '"' + "".join(out) + '"'


def c_comment(text: str) -> str:
    """`text` made safe inside a `//` comment: printable ASCII without backslashes (a trailing backslash
    would splice the next line into the comment) or '?' (trigraphs); everything else as \\xNN."""
    return "".join(
        ch if 0x20 <= ord(ch) < 0x7F and ch not in "\\?" else "".join(f"\\x{b:02x}" for b in ch.encode("utf-8"))
        for ch in text
    )[:200]


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
            namer.used.update(fn_namer.used)  # a local name would hide a function the body calls
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
