"""The `hls-cpp` target: prints an hlscpp module as Vitis HLS C++. It only prints; it never rewrites the IR.

Names come from the IR (function and argument names, array/stream name hints, loop labels), made legal and
unique by `hlscpp-prepare-emission`; values without a name get `v<N>`. The printer re-checks every name it
prints and refuses one that is not a legal identifier, so text from a model can never reach the C++ as code
even if a caller skipped that pass. Directives are printed from op attributes.

C-simulation twin: besides the kernel Vitis synthesizes (ap_int/ap_uint types, printed exactly as before, under
`#if defined(__SYNTHESIS__) || defined(LSTMC_CSIM_AP_TYPES)`), the .cpp holds a native-integer copy of every
function that g++ and Vitis C-simulation compile instead (after the `#else`). Constructing `ap_int` weight
arrays is what made g++ take minutes and GiBs, and ap_int arithmetic is slow to simulate. The twin computes the same bits by
construction, without trusting any range proof: every value lives in an int64_t, every expression is exact in
64 bits (or computed modulo 2^64 where the operand types allow more), and wherever the operand *types* (not
the proven values) allow a result outside the ap result type, it is wrapped to that type's width exactly as
an ap_int/ap_uint assignment does. `-DLSTMC_CSIM_AP_TYPES` simulates the ap_int kernel itself.
The twin needs no Xilinx header: its streams (ports included) are `lstmc_tb::stream<int64_t>` (CSIM_STREAM),
and the kernel's header declares the top function with those ports outside the AP_GUARD, so a testbench that
takes its port types from the declaration (lstmc/hls/project.py) builds against either kernel. Vitis builds
both the kernel and the testbench with `-DLSTMC_CSIM_AP_TYPES` (run_hls.tcl).
"""

from __future__ import annotations

import re
from collections.abc import Set
from contextlib import contextmanager
from typing import IO, TypeGuard, TypeVar, cast

import numpy as np
from xdsl.dialects.builtin import IndexType, IntegerType, MemRefType, ModuleOp, Signedness
from xdsl.ir import Attribute, BlockArgument, Operation, SSAValue

from lstmc.dense import array_from_dense
from lstmc.dialects import hlscpp
from lstmc.errors import LstmcError
from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier


class EmissionError(LstmcError):
    """The IR cannot be printed as C++ as it is (e.g. hlscpp-prepare-emission did not run)."""


def identifier(name: str, what: str) -> str:
    """`name` if it is a legal C++ identifier, else an EmissionError naming it."""
    reason = is_cpp_identifier(name, max_len=None)
    if reason or re.fullmatch(r"v\d+", name):
        raise EmissionError(
            f"hls-cpp: {what} {name!r} is not a legal C++ identifier "
            f"({reason or 'v<N> names are the emitter`s temporaries'}); run hlscpp-prepare-emission first"
        )
    return name


_CMP = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<", "eq": "==", "ne": "!="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "div": "/", "mod": "%", "shr": ">>", "shl": "<<"}
# What the kernel and its header include for the ap_int kernel (a C-simulation of a kernel without a native
# twin precompiles exactly these).
KERNEL_INCLUDES = ("ap_int.h", "hls_stream.h")
# The guard of the synthesized kernel; C-simulation compiles the twin after its #else (module docstring).
AP_GUARD = "#if defined(__SYNTHESIS__) || defined(LSTMC_CSIM_AP_TYPES)"
# int64_t holds every value of the twin and every sum or difference of two of them (|a|, |b| < 2^62).
_NATIVE_MAX_BITS = 62
# The twin's stream: every stream of the twin (ports and FIFOs) carries int64_t values in this FIFO, so its
# C-simulation parses no Xilinx header (ap_int.h alone is ~1.5 s of g++ per translation unit). It lives in
# `lstmc_tb`, the namespace of lstmc's C-simulation support that hlscpp-prepare-emission reserves, and is
# defined once per translation unit (the header, or a header-less .cpp). Like hls::stream in C-simulation, a
# read of an empty stream warns and yields 0, and a stream destroyed with data left warns.
CSIM_STREAM = "lstmc_tb::stream<int64_t>"
_CSIM_SUPPORT = """#ifndef LSTMC_CSIM_STREAM
#define LSTMC_CSIM_STREAM
#include <cstdint>
#include <cstdio>
#include <vector>
namespace lstmc_tb {
template <class T> class stream {
  std::vector<T> data_;
  std::size_t head_ = 0;
  const char *name_;
 public:
  explicit stream(const char *name = "stream") : name_(name) {}
  stream(const stream &) = delete;
  stream &operator=(const stream &) = delete;
  ~stream() {
    if (!empty()) std::fprintf(stderr, "WARNING: stream '%s' contains leftover data\\n", name_);
  }
  bool empty() const { return head_ == data_.size(); }
  int size() const { return (int)(data_.size() - head_); }
  void write(const T &v) { data_.push_back(v); }
  T read() {
    if (empty()) {
      std::fprintf(stderr, "WARNING: stream '%s' is read while empty\\n", name_);
      return T();
    }
    T v = data_[head_++];
    if (head_ == data_.size()) {  // drained: reuse the storage
      data_.clear();
      head_ = 0;
    }
    return v;
  }
};
// One AXI4-Stream beat of W data bits, as ap_axiu<W, 0, 0, 0> holds it: data, TKEEP, TSTRB (one bit per byte)
// and TLAST; bit i of a field is bit i % 64 of its word i / 64.
template <int W> struct axis {
  uint64_t data[(W + 63) / 64];
  uint64_t keep[(W / 8 + 63) / 64];
  uint64_t strb[(W / 8 + 63) / 64];
  bool last;
  axis() : data(), keep(), strb(), last(false) {}
};
// Bits [lo, lo + n) of a little-endian bit array, 1 <= n <= 64.
inline uint64_t get_bits(const uint64_t *w, int lo, int n) {
  int s = lo % 64;
  uint64_t v = w[lo / 64] >> s;
  if (s && s + n > 64) v |= w[lo / 64 + 1] << (64 - s);
  return n == 64 ? v : v & ((1ULL << n) - 1);
}
inline void put_bits(uint64_t *w, int lo, int n, uint64_t v) {
  int s = lo % 64;
  uint64_t m = n == 64 ? ~0ULL : (1ULL << n) - 1;
  v &= m;
  w[lo / 64] = (w[lo / 64] & ~(m << s)) | (v << s);
  if (s && s + n > 64) w[lo / 64 + 1] = (w[lo / 64 + 1] & ~(m >> (64 - s))) | (v >> (64 - s));
}
// TKEEP and TSTRB: the first `bytes` bytes.
template <int W> inline void set_keep(axis<W> &b, int bytes) {
  for (int k = 0; k < W / 8; k++) {
    put_bits(b.keep, k, 1, k < bytes);
    put_bits(b.strb, k, 1, k < bytes);
  }
}
}  // namespace lstmc_tb
#endif  // LSTMC_CSIM_STREAM"""
# The kernel's ports are hls::stream<ap_axiu<W, 0, 0, 0>> (TDATA, TKEEP, TSTRB, TLAST) from Vitis HLS's
# ap_axi_sdata.h. Other copies of the ap_types headers (hls4ml's, which lstmc's C-simulation uses) do not ship
# that header: then a minimal stand-in with the same fields takes its place (C-simulation only: Vitis always
# has the real one).
AXIS_SUPPORT = """#ifdef __has_include
#if __has_include(<ap_axi_sdata.h>)
#define LSTMC_HAVE_AP_AXI_SDATA
#endif
#endif
#ifdef LSTMC_HAVE_AP_AXI_SDATA
#include <ap_axi_sdata.h>
#elif !defined(LSTMC_AP_AXIU)
#define LSTMC_AP_AXIU
// no ap_axi_sdata.h (not Vitis HLS): a stand-in for C-simulation with the fields lstmc uses
template <int D, int U, int TI, int TD> struct ap_axiu {
  ap_uint<D> data;
  ap_uint<(D + 7) / 8> keep;
  ap_uint<(D + 7) / 8> strb;
  ap_uint<1> last;
};
#endif"""


def cpp_type(ty: Attribute) -> str:
    if isinstance(ty, IndexType):
        return "int"
    if isinstance(ty, IntegerType):
        w = ty.width.data
        if w == 1 and ty.signedness.data == Signedness.SIGNLESS:
            return "bool"
        return f"ap_uint<{w}>" if ty.signedness.data == Signedness.UNSIGNED else f"ap_int<{w}>"
    if isinstance(ty, hlscpp.StreamType):
        return f"hls::stream<{cpp_type(ty.element_type)}>"
    if isinstance(ty, hlscpp.AxisType):
        return f"ap_axiu<{ty.width.data}, 0, 0, 0>"
    raise ValueError(f"no C++ type for {ty}")


def _dims(ty: MemRefType) -> str:
    return "".join(f"[{d}]" for d in ty.get_shape())


def declaration(ty: Attribute, name: str) -> str:
    """A parameter declaration: arrays by their full shape, streams by reference."""
    if isinstance(ty, MemRefType):
        return f"{cpp_type(ty.element_type)} {name}{_dims(ty)}"
    if isinstance(ty, hlscpp.StreamType):
        return f"{cpp_type(ty)} &{name}"
    return f"{cpp_type(ty)} {name}"


def _initializer(values: np.ndarray) -> str:
    """The brace initializer of an integer array, e.g. `{{1, -2}, {3, 4}}`, formatted in bulk: a fixed-width
    byte slot per element (its opening braces, the number right-aligned, its closing braces, ", ") gathered
    from a table of the distinct values, NUL padding dropped. 2M weights take ~0.05 s, 4x less than a str()
    per element."""
    if values.ndim == 0:
        return str(int(values))
    if values.size == 0:
        return "{" + ", ".join(_initializer(v) for v in values) + "}"
    d, flat = values.ndim, values.ravel()
    lo, hi = int(flat.min()), int(flat.max())
    if hi - lo < 1 << 16:
        distinct, index = range(lo, hi + 1), flat - lo
    else:
        unique, index = np.unique(flat, return_inverse=True)
        distinct = unique.tolist()
    texts = [str(v).encode() for v in distinct]
    digits = max(map(len, texts))
    width = d + digits + d + 2
    table = np.zeros((len(texts), width), np.uint8)
    for k, text in enumerate(texts):
        table[k, d + digits - len(text) : d + digits] = np.frombuffer(text, np.uint8)
    table[:, width - 2 :] = np.frombuffer(b", ", np.uint8)
    slots = table.view(f"V{width}").ravel()[index.ravel()].view(np.uint8).reshape(flat.size, width)
    shaped = slots.reshape(*values.shape, width)
    for k in range(1, d + 1):  # an element opens (closes) one brace per axis along which it comes first (last)
        shaped[(Ellipsis,) + (0,) * k + (k - 1,)] = ord("{")
        shaped[(Ellipsis,) + (-1,) * k + (d + digits + k - 1,)] = ord("}")
    slots[-1, -2:] = 0
    text = slots.ravel()
    return text[text != 0].tobytes().decode()


def include_name(header: str) -> str:
    """A header file name fit for `#include "..."` (which has no escape sequences): `<identifier>.h`."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*\.h", header):
        raise EmissionError(f"hls-cpp: header name {header!r} must be an identifier followed by '.h'")
    return header


class CppPrinter:
    def __init__(self, out: IO[str], initializers: dict | None = None):
        self.out = out
        self.level = 0
        self.names: dict[SSAValue, str] = {}
        self.exprs: dict[SSAValue, str] = {}
        self.counter = 0
        # formatted initializers by array op, shared with the twin printer (big weights are formatted once)
        self.initializers: dict[hlscpp.ArrayOp, str] = {} if initializers is None else initializers

    def line(self, text: str = "") -> None:
        self.out.write(("  " * self.level + text).rstrip() + "\n")

    def pragma(self, text: str) -> None:
        self.line(text)

    @contextmanager
    def indented(self):
        self.level += 1
        try:
            yield
        finally:
            self.level -= 1

    def name(self, value: SSAValue) -> str:
        if value in self.exprs:
            return self.exprs[value]
        if value not in self.names:
            hint = value.name_hint
            self.names[value] = identifier(hint, "value name") if hint else f"v{self.counter}"
            self.counter += 1
        return self.names[value]

    # ------------------------------------------------------------------------------------------ structure
    def print_module(self, module: ModuleOp, header: str | None = None, csim_twin: bool = True) -> None:
        self.line("// Generated by lstmc. Do not edit: regenerate with `lstmc compile`.")
        if header:
            self.line(f'#include "{include_name(header)}"')
        else:
            for name in KERNEL_INCLUDES:
                self.line(f"#include <{name}>")
            for text in AXIS_SUPPORT.splitlines():
                self.line(text)
        functions = [op for op in module.ops if isinstance(op, hlscpp.FuncOp)]
        twin = csim_twin and native_twin_blocker(module) is None
        if twin:
            self.line()
            self.line(
                "// Vitis synthesizes the ap_int kernel below. C-simulation (g++, Vitis csim) compiles the native-integer"
            )
            self.line("// twin after #else, which computes the same bits by construction (lstmc/hls/emit.py);")
            self.line("// -DLSTMC_CSIM_AP_TYPES simulates the ap_int kernel instead.")
            self.line(AP_GUARD)
        for fn in functions:
            self.line()
            self.print_func(fn)
        if twin:
            self.line("#else  // C-simulation: the native-integer twin")
            self.line("#include <cstdint>")
            if not header:  # else the header defines it, for the testbench too
                for text in _CSIM_SUPPORT.splitlines():
                    self.line(text)
            native = NativeCppPrinter(self.out, self.initializers, port_streams(module))
            for fn in functions:
                native.line()
                native.print_func(fn)
            self.line("#endif")

    def declaration(self, value: SSAValue, name: str) -> str:
        return declaration(value.type, name)

    def prototype(self, fn: hlscpp.FuncOp) -> str:
        args = [
            self.declaration(a, identifier(n.data, "argument name"))
            for a, n in zip(fn.body.block.args, fn.arg_names.data)
        ]
        return f"void {identifier(fn.sym_name.data, 'function name')}({', '.join(args)})"

    def print_func(self, fn: hlscpp.FuncOp) -> None:
        self.names, self.exprs, self.counter = {}, {}, 0
        for a, n in zip(fn.body.block.args, fn.arg_names.data):
            self.names[a] = n.data
        if fn.top is None:
            self.line("static " + self.prototype(fn) + " {")
        else:
            self.line(self.prototype(fn) + " {")
        with self.indented():
            for a, iface in zip(fn.body.block.args, fn.interfaces.data):
                if iface.data != hlscpp.Interface.DEFAULT:
                    self.pragma(f"#pragma HLS INTERFACE mode={iface.data} port={self.names[a]}")
            if fn.top is not None:
                control = fn.block_control.data if fn.block_control is not None else "ap_ctrl_hs"
                self.pragma(f"#pragma HLS INTERFACE mode={control} port=return")
            if fn.dataflow is not None:
                self.pragma("#pragma HLS DATAFLOW")
            for op in fn.body.block.ops:
                self.print_op(op)
        self.line("}")

    # ------------------------------------------------------------------------------------------ ops
    def print_op(self, op) -> None:
        method = getattr(self, "_" + op.name.replace("hlscpp.", ""), None)
        if method is None:
            raise ValueError(f"the hls-cpp target cannot print '{op.name}'")
        method(op)

    def _const(self, op: hlscpp.ConstOp) -> None:
        value = op.value.value.data
        ty = op.result.type
        self.exprs[op.result] = str(value) if isinstance(ty, IndexType) else f"{cpp_type(ty)}({value})"

    def formatted_initializer(self, op: hlscpp.ArrayOp, values: np.ndarray) -> str:
        if op not in self.initializers:
            self.initializers[op] = _initializer(values)
        return self.initializers[op]

    def _array(self, op: hlscpp.ArrayOp) -> None:
        name = self.name(op.result)
        ty = op.result.type
        decl = f"{cpp_type(ty.element_type)} {name}{_dims(ty)}"
        storage = op.storage.data
        if op.init is not None:
            values = array_from_dense(op.init).astype(np.int64)
            prefix = "static const " if storage == "static_const" else ("static " if storage == "static" else "")
            self.line(f"{prefix}{decl} = {self.formatted_initializer(op, values)};")
        else:
            self.line(("static " if storage == "static" else "") + decl + ";")
        for p in op.partition.data:
            factor = f" factor={p.factor.data}" if p.kind.data != "complete" else ""
            dim = f" dim={p.dim.data}"
            self.pragma(f"#pragma HLS ARRAY_PARTITION variable={name} type={p.kind.data}{factor}{dim}")

    def _stream(self, op: hlscpp.StreamOp) -> None:
        name = self.name(op.result)
        ty = op.result.type
        if isinstance(ty, MemRefType):  # an array of FIFOs (lanes); HLS partitions stream arrays itself
            self.line(f"{cpp_type(ty.element_type)} {name}{_dims(ty)};")
        else:
            self.line(f'{cpp_type(ty)} {name}("{name}");')
        self.pragma(f"#pragma HLS STREAM variable={name} depth={op.depth.value.data}")

    def _for(self, op: hlscpp.ForOp) -> None:
        i = self.name(op.body.block.args[0])
        lb, ub, step = op.lb.value.data, op.ub.value.data, op.step.value.data
        label = f"{identifier(op.label.data, 'loop label')}: " if op.label is not None else ""
        inc = f"{i}++" if step == 1 else f"{i} += {step}"
        bound = self.name(op.bound) if op.bound is not None else ub
        self.line(f"{label}for (int {i} = {lb}; {i} < {bound}; {inc}) {{")
        with self.indented():
            if op.bound is not None:  # a run-time bound: Vitis reports need the largest count (ub)
                self.pragma(f"#pragma HLS LOOP_TRIPCOUNT min=1 max={op.trip_count}")
            if op.pipeline is not None:
                self.pragma(f"#pragma HLS PIPELINE II={op.pipeline.value.data}")
            if op.unroll is not None:
                factor = op.unroll.value.data
                self.pragma("#pragma HLS UNROLL" + (f" factor={factor}" if factor else ""))
            for inner in op.body.block.ops:
                self.print_op(inner)
            self.end_of_loop_body(op)
        self.line("}")

    def end_of_loop_body(self, op: hlscpp.ForOp) -> None:
        pass

    def _if(self, op: hlscpp.IfOp) -> None:
        self.line(f"if ({self.name(op.cond)}) {{")
        with self.indented():
            for inner in op.then.block.ops:
                self.print_op(inner)
        self.line("}")

    def _index(self, indices) -> str:
        return "".join(f"[{self.name(i)}]" for i in indices)

    def _load(self, op: hlscpp.LoadOp) -> None:
        self.line(
            f"{cpp_type(op.result.type)} {self.name(op.result)} = {self.name(op.array)}{self._index(op.indices)};"
        )

    def _store(self, op: hlscpp.StoreOp) -> None:
        self.line(f"{self.name(op.array)}{self._index(op.indices)} = {self.name(op.value)};")

    def _read(self, op: hlscpp.ReadOp) -> None:
        stream = self.name(op.stream) + self._index(op.indices)
        self.line(f"{cpp_type(op.result.type)} {self.name(op.result)} = {stream}.read();")

    def _write(self, op: hlscpp.WriteOp) -> None:
        self.line(f"{self.name(op.stream)}{self._index(op.indices)}.write({self.name(op.value)});")

    @staticmethod
    def code_bits(op: hlscpp.PackOp | hlscpp.UnpackOp) -> int:
        """b: the width of a pack's codes or of an unpack's result."""
        ty = op.result.type if isinstance(op, hlscpp.UnpackOp) else op.codes[0].type
        assert isinstance(ty, IntegerType)
        return ty.width.data

    def lane_offset(self, lane: SSAValue, bits: int) -> str:
        k = _const_of(lane)
        return str(k * bits) if k is not None else f"{self.name(lane)} * {bits}"

    def pack_lines(self, op: hlscpp.PackOp) -> list[tuple[int, str, str]]:
        """(i, guard, the code's name) for every code the beat holds: codes past a constant count are left out,
        and the guard is `if (i < count) ` when the count is not a constant (their bits stay zero)."""
        count, known = self.name(op.count), _const_of(op.count)
        return [
            (i, f"if ({i} < {count}) " if known is None and i else "", self.name(c))
            for i, c in enumerate(op.codes)
            if known is None or i < known
        ]

    def _pack(self, op: hlscpp.PackOp) -> None:
        bits = self.code_bits(op)
        name, count, known = self.name(op.result), self.name(op.count), _const_of(op.count)
        keep_bits = op.result.type.width.data // 8
        self.line(f"{cpp_type(op.result.type)} {name};")
        self.line(f"{name}.data = 0;")
        for i, guard, code in self.pack_lines(op):
            self.line(f"{guard}{name}.data.range({(i + 1) * bits - 1}, {i * bits}) = {code};")
        if known is not None:  # the bytes holding `known` codes
            shift = keep_bits - (known * bits + 7) // 8
            self.line(f"{name}.keep = ~ap_uint<{keep_bits}>(0)" + (f" >> {shift};" if shift else ";"))
        else:
            self.line(f"{name}.keep = ~ap_uint<{keep_bits}>(0) >> ({keep_bits} - ({count} * {bits} + 7) / 8);")
        self.line(f"{name}.strb = {name}.keep;")
        self.line(f"{name}.last = {self.name(op.last)};")

    def _unpack(self, op: hlscpp.UnpackOp) -> None:
        bits = self.code_bits(op)
        lo = self.lane_offset(op.lane, bits)
        hi = str(int(lo) + bits - 1) if lo.isdigit() else f"{lo} + {bits - 1}"
        self.line(f"{cpp_type(op.result.type)} {self.name(op.result)} = {self.name(op.beat)}.data.range({hi}, {lo});")

    def _binary(self, op: hlscpp.BinaryOp) -> None:
        kind, a, b = op.kind.data, self.name(op.lhs), self.name(op.rhs)
        ty = cpp_type(op.result.type)
        if kind in _CMP:
            expr = f"{a} {_CMP[kind]} {b}"
        elif kind in ("min", "max"):
            cmp = "<" if kind == "min" else ">"
            expr = f"({a} {cmp} {b}) ? {ty}({a}) : {ty}({b})"
        elif kind in ("and", "or"):
            logical = ty == "bool"
            expr = f"{a} {('&&' if kind == 'and' else '||') if logical else ('&' if kind == 'and' else '|')} {b}"
        else:
            expr = f"{a} {_ARITH[kind]} {b}"
        self.line(f"{ty} {self.name(op.result)} = {expr};")

    def _select(self, op: hlscpp.SelectOp) -> None:
        ty = cpp_type(op.result.type)
        self.line(
            f"{ty} {self.name(op.result)} = {self.name(op.cond)} ? {ty}({self.name(op.if_true)}) : {ty}({self.name(op.if_false)});"
        )

    def _cast(self, op: hlscpp.CastOp) -> None:
        ty = cpp_type(op.result.type)
        src = self.name(op.input)
        expr = f"(int)({src})" if ty == "int" else f"{ty}({src})"
        self.line(f"{ty} {self.name(op.result)} = {expr};")

    def _call(self, op: hlscpp.CallOp) -> None:
        callee = identifier(op.callee.root_reference.data, "callee")
        self.line(f"{callee}({', '.join(self.name(a) for a in op.args)});")


# ------------------------------------------------------------------------------------------------ the twin
def _is_ap(ty: Attribute | None) -> TypeGuard[IntegerType]:
    """An ap_int/ap_uint type (not bool, not the index type int)."""
    return isinstance(ty, IntegerType) and cpp_type(ty) != "bool"


def value_range(ty: Attribute) -> tuple[int, int]:
    """The values a variable of this C++ type can hold."""
    if isinstance(ty, IndexType):
        return -(1 << 31), (1 << 31) - 1
    if not isinstance(ty, IntegerType):
        raise ValueError(f"no integer range for {ty}")
    w = ty.width.data
    if not _is_ap(ty):
        return 0, 1
    if ty.signedness.data == Signedness.UNSIGNED:
        return 0, (1 << w) - 1
    return -(1 << (w - 1)), (1 << (w - 1)) - 1


def wrap_value(value: int, ty: IntegerType) -> int:
    """What ap_int<W>/ap_uint<W> holds after being assigned `value`: its low W bits, sign- or zero-extended."""
    w = ty.width.data
    v = value & ((1 << w) - 1)
    return v - (1 << w) if ty.signedness.data != Signedness.UNSIGNED and v >> (w - 1) else v


def native_element_type(ty: Attribute) -> str:
    """The array element type of the twin: the smallest native integer holding every value of the ap type."""
    if not _is_ap(ty):
        return cpp_type(ty)
    w = ty.width.data
    bits = next(b for b in (8, 16, 32, 64) if w <= b)
    return f"uint{bits}_t" if ty.signedness.data == Signedness.UNSIGNED else f"int{bits}_t"


def native_twin_blocker(module: ModuleOp) -> str | None:
    """Why the module gets no native twin (the C-simulation then compiles the ap_int kernel), or None."""

    def types_of(op):
        for v in (*op.operands, *op.results, *(a for r in op.regions for blk in r.blocks for a in blk.args)):
            ty = v.type
            while isinstance(ty, (MemRefType, hlscpp.StreamType)):  # arrays, streams, arrays of streams
                ty = ty.element_type
            yield ty

    for op in module.walk():
        for ty in types_of(op):
            if isinstance(ty, IntegerType) and ty.width.data > _NATIVE_MAX_BITS:
                return f"{cpp_type(ty)} is wider than {_NATIVE_MAX_BITS} bits"
            if not isinstance(ty, (IntegerType, IndexType, MemRefType, hlscpp.StreamType, hlscpp.AxisType)):
                return f"{ty} has no native twin"
        if isinstance(op, hlscpp.BinaryOp) and _is_ap(op.result.type):
            if op.kind.data == "shl":
                return "ap_int << keeps the left operand's width"
            if op.kind.data in ("div", "mod") and _ap_operand(op.lhs.type)[1] != _ap_operand(op.rhs.type)[1]:
                return "ap_int / and % of mixed signedness convert to the wider operand's signedness"
            if op.kind.data == "shr":
                shift = op.rhs.owner
                if not (isinstance(shift, hlscpp.ConstOp) and 0 <= shift.value.value.data <= _NATIVE_MAX_BITS):
                    return "a shift by a variable amount"
        if (
            isinstance(op, hlscpp.FuncOp)
            and op.top is not None
            and not all(isinstance(a.type, (hlscpp.StreamType, IndexType)) for a in op.body.block.args)
        ):
            # (an `int` port such as seq_len is declared alike in both copies)
            return "the top function has non-stream ports (its prototype is the header's)"
    return None


def port_streams(module: ModuleOp) -> set[SSAValue]:
    """The streams (and arrays of streams) that are, or are passed through calls as, the top function's ports.
    In the twin every stream is a CSIM_STREAM; a port's values come from the testbench (any int64_t, which the
    twin's reads wrap to the element type as the ap port's constructor would), a FIFO's from the twin's own
    writes (already wrapped). A parameter and the arguments passed to it are one stream, hence one decision
    per call-connected set (union-find)."""
    functions = {f.sym_name.data: f for f in module.ops if isinstance(f, hlscpp.FuncOp)}
    parent: dict[SSAValue, SSAValue] = {}

    def find(v):
        while parent.get(v, v) is not v:
            v = parent[v]
        return v

    ports = [a for f in functions.values() if f.top is not None for a in f.body.block.args]
    streams = []
    for f in functions.values():
        for op in f.walk():
            streams += [
                v
                for v in (*op.results, *(a for r in op.regions for blk in r.blocks for a in blk.args))
                if hlscpp.stream_element_type(v.type) is not None
            ]
            if isinstance(op, hlscpp.CallOp):
                callee = functions.get(op.callee.root_reference.data)
                params = callee.body.block.args if callee is not None else ()
                for k, arg in enumerate(op.args):
                    if hlscpp.stream_element_type(arg.type) is None:
                        continue
                    if k < len(params):
                        parent[find(arg)] = find(params[k])
                    elif ports:  # an unknown callee keeps the type it was declared with: ap
                        parent[find(arg)] = find(ports[0])
    roots = {find(a) for a in ports}
    return {v for v in streams if find(v) in roots}


def _wrap_expr(expr: str, ty: IntegerType) -> str:
    """C++ for what an ap_int<W>/ap_uint<W> assignment keeps of the int64_t `expr` (W <= 62): the low W bits,
    sign-extended (g++/clang: int64_t <- uint64_t keeps the bits, >> of a negative value is arithmetic) or
    masked."""
    w = ty.width.data
    if ty.signedness.data == Signedness.UNSIGNED:
        return f"(int64_t)((uint64_t)({expr}) & {hex((1 << w) - 1)}ULL)"
    return f"((int64_t)((uint64_t)({expr}) << {64 - w}) >> {64 - w})"


def _ap_operand(ty: Attribute) -> tuple[int, bool]:
    """(width, signed) of an operand as ap_int's operators see it: `int` is ap_int<32>, `bool` ap_uint<1>."""
    if isinstance(ty, IndexType):
        return 32, True
    if _is_ap(ty):
        return ty.width.data, ty.signedness.data != Signedness.UNSIGNED
    return 1, False


def _bitwise_range(kind: str, a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    """A range holding `x & y` / `x | y` for x, y in the ranges (two's complement)."""
    if kind == "and" and (a[0] >= 0 or b[0] >= 0):  # a non-negative operand bounds the result
        return 0, min(r[1] for r in (a, b) if r[0] >= 0)
    bits = max(max(abs(v), abs(v + 1)).bit_length() for v in (*a, *b))
    lo = -(1 << bits) if min(a[0], b[0]) < 0 else 0
    return lo, (1 << bits) - 1


# ------------------------------------------------------------------------------------------------ the twin's MVAU
_Op = TypeVar("_Op", bound=Operation)


def _owner(value: SSAValue, kind: type[_Op], binary: str | None = None) -> _Op | None:
    """The op defining `value` if it is a `kind` (a BinaryOp of kind `binary`), else None."""
    op = value.owner
    if not isinstance(op, kind) or (
        binary is not None and not (isinstance(op, hlscpp.BinaryOp) and op.kind.data == binary)
    ):
        return None
    return op


def _const_of(value: SSAValue) -> int | None:
    op = _owner(value, hlscpp.ConstOp)
    return op.value.value.data if op is not None else None


def _only_used_by(value: SSAValue, user) -> bool:
    return all(use.operation is user for use in value.uses)


def _available_before(value: SSAValue, op) -> bool:
    """`value` is defined where `op` can use it: a block argument of a block enclosing `op`, or the result of
    an op that precedes `op` (or the op enclosing it) in an enclosing block."""
    enclosing, node = {}, op
    while node is not None:
        enclosing[node.parent_block()] = node
        node = node.parent_op()
    owner = value.owner
    if isinstance(value, BlockArgument):
        return owner in enclosing
    block = owner.parent_block()
    if block is None or block not in enclosing:
        return False
    for other in block.ops:
        if other is enclosing[block]:
            return False
        if other is owner:
            return True
    return False


def _element_type(array: SSAValue) -> Attribute:
    """The element type of an array value."""
    return SSAValue.get(array, type=MemRefType).type.element_type


def _native_values(op: hlscpp.ArrayOp) -> np.ndarray:
    """The initializer of an array as the twin stores it: what the ap array holds (its low bits, when a value
    is out of the element type's range)."""
    assert op.init is not None  # an array of constants (the weights)
    values = array_from_dense(op.init).astype(np.int64)
    elem = op.result.type.element_type
    if _is_ap(elem) and values.size:
        lo, hi = value_range(elem)
        if values.min() < lo or values.max() > hi:
            values = np.vectorize(lambda v: wrap_value(int(v), elem), otypes=[np.int64])(values)
    return values


class _Dot:
    """The sum over a column range of one part of an MVAU row: X[lead..., c] * W[r0 + c, n] for c0 <= c <
    c0 + size (see MvauTwin)."""

    def __init__(self, x: SSAValue, lead: tuple, r0: int, size: int, w: hlscpp.ArrayOp, n: SSAValue, c0: int = 0):
        self.x, self.lead, self.r0, self.size, self.w, self.n, self.c0 = x, lead, r0, size, w, n, c0
        self.weights: np.ndarray | None = None  # W[r0 + c0 : r0 + c0 + size].T, one contiguous row per output row n
        self.bound = 0  # bounds |every partial sum|: max|x| over x's type times the largest row sum of |W|
        self.ctype: str | None = None  # a native type in which that holds (None: neither int32_t nor int64_t)

    @property
    def rows(self) -> tuple[int, int]:
        """The weight rows it reads: [r0 + c0, r0 + c0 + size)."""
        return self.r0 + self.c0, self.r0 + self.c0 + self.size

    def settle(self, values: np.ndarray) -> None:
        """Fill weights, bound and ctype from the twin's values of W."""
        lo_row, hi_row = self.rows
        self.weights = np.ascontiguousarray(values[lo_row:hi_row].T)
        lo, hi = value_range(_element_type(self.x))
        self.bound = max(abs(lo), abs(hi)) * int(np.abs(self.weights).sum(axis=1).max(initial=0))
        self.ctype = "int32_t" if self.bound < 1 << 31 else ("int64_t" if self.bound < 1 << 63 else None)


_EVAL = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "eq": lambda a, b: int(a == b),
    "ne": lambda a, b: int(a != b),
    "lt": lambda a, b: int(a < b),
    "le": lambda a, b: int(a <= b),
    "gt": lambda a, b: int(a > b),
    "ge": lambda a, b: int(a >= b),
    "and": lambda a, b: a & b,
    "or": lambda a, b: a | b,
}


def _evaluate(value: SSAValue, env: dict[SSAValue, int]) -> int | None:
    """The value of an index or bool expression of constants and the values in `env` (None if it depends on
    anything else)."""
    if value in env:
        return env[value]
    op = value.owner
    if isinstance(op, hlscpp.ConstOp):
        return op.value.value.data
    if (
        isinstance(op, hlscpp.BinaryOp)
        and op.kind.data in _EVAL
        and (isinstance(op.result.type, IndexType) or op.result.type == IntegerType(1))
    ):
        a, b = _evaluate(op.lhs, env), _evaluate(op.rhs, env)
        return None if a is None or b is None else _EVAL[op.kind.data](a, b)
    if isinstance(op, hlscpp.SelectOp):
        c = _evaluate(op.cond, env)
        return None if c is None else _evaluate(op.if_true if c else op.if_false, env)
    return None


class MvauTwin:
    """How the twin runs an MVAU loop (an `hlscpp.for` labelled `mvau`, as qrnn-to-hlscpp writes it: a flat
    loop whose column-fold counter lives in an index array, each iteration one multiply-accumulate per PE row
    and SIMD lane into per-part accumulators) at the speed of a plain dot product, with the same bits. An
    accumulator runs in segments: it is set at the fold `sf == a` (to 0, or to a value loaded from an array the
    loop does not write: the x-part a step carried over) and read at the fold `sf == b` (the first such b >= a;
    a read may be guarded by `sf == b || sf == c`: the last fold of a row at step 0 or after), the folds a .. b
    of one row following each other (`_emit_mvau`, `_emit_overlapped_mvau`, whose trip count may be a run-time
    bound: at step 0 the loop runs longer). The twin
    evaluates, for every fold of the segment, which multiply-accumulates run (their guards and selected
    operands are expressions of the counter and constants) and which column each reads:
    - each set `acc[q] = v` becomes v + the dot product of the columns the segment reads (one contiguous range
      of one input array, at one leading index), a contiguous loop over a transposed copy of the weights that
      g++ vectorizes, and its multiply-accumulates are not printed. The ap kernel wraps the accumulator to its
      type after every addition; wrapping is a ring homomorphism (mod 2^W), so wrapping the exact sum once
      gives the same value. The sum is exact in int32_t (int64_t) when max|x| (from x's type) times the
      largest column sum of |W| stays below 2^31 (2^63). The inputs must hold still during the loop;
    - the folds strictly inside a segment do nothing then but step the counter: when it provably steps by one
      there and no other side effect happens there, the twin jumps over them.
    Anything that does not match exactly (a product the type wraps, an accumulator read or written elsewhere, a
    guard or column that is not an expression of the counter, columns that are not one range) leaves the loop
    printed op for op."""

    def __init__(self, loop: hlscpp.ForOp):
        self.loop = loop
        self.skip: set = set()  # ops not printed
        self.dots: dict[hlscpp.StoreOp, list[_Dot]] = {}  # accumulator sets -> the dot products added to them
        self.jump: tuple[SSAValue, list[tuple[int, int]]] | None = None  # (the fold counter array, segments)

    @classmethod
    def find(cls, loop: hlscpp.ForOp) -> MvauTwin | None:
        if loop.label is None or loop.label.data != "mvau":
            return None
        twin = cls(loop)
        return twin if twin._match() else None

    def _guards(self, op) -> list[SSAValue]:
        """The conditions of the ifs around `op` inside the loop."""
        conds, node = [], op.parent_op()
        while node is not None and node is not self.loop:
            if isinstance(node, hlscpp.IfOp):
                conds.append(node.cond)
            node = node.parent_op()
        return conds

    def _fold_flags(self, cond: SSAValue, counter: SSAValue | None = None) -> tuple[SSAValue, list[int]] | None:
        """(the counter's load, the folds a where the condition may hold) of a condition `counter == a`, of
        `f || g` of two such conditions on one counter (the folds of both), or of `f && g` (those of one of
        them, of `counter` when given)."""
        either = _owner(cond, hlscpp.BinaryOp, "or")
        if either is not None:
            lhs, rhs = self._fold_flags(either.lhs, counter), self._fold_flags(either.rhs, counter)
            if lhs is None or rhs is None or lhs[0] is not rhs[0]:
                return None
            return lhs[0], lhs[1] + rhs[1]
        both = _owner(cond, hlscpp.BinaryOp, "and")
        if both is not None:
            flags = [f for c in (both.lhs, both.rhs) if (f := self._fold_flags(c, counter)) is not None]
            mine = [f for f in flags if counter is None or f[0] is counter]
            return (mine or flags or [None])[0]
        eq = _owner(cond, hlscpp.BinaryOp, "eq")
        load = _owner(eq.lhs, hlscpp.LoadOp) if eq is not None else None
        a = _const_of(eq.rhs) if eq is not None else None
        if (
            load is not None
            and a is not None
            and not load.indices
            and load.parent_block() is self.loop.body.block
            and isinstance(_element_type(load.array), IndexType)
        ):
            return load.result, [a]
        return None

    def _match(self) -> bool:
        loop, body = self.loop, self.loop.body.block
        if loop.lb.value.data != 0 or loop.step.value.data != 1:  # a run-time bound may end it earlier
            return False
        macs: dict[SSAValue, list] = {}
        for op in loop.walk():
            if isinstance(op, hlscpp.StoreOp) and (mac := self._mac(op)) is not None:
                macs.setdefault(op.array, []).append((op, mac))
        if not macs:
            return False
        values: dict[hlscpp.ArrayOp, np.ndarray] = {}  # the weights, once per array
        counter: SSAValue | None = None
        written = {op.array for op in loop.walk() if isinstance(op, hlscpp.StoreOp)}
        segments_of: dict[SSAValue, list[tuple[int, int]]] = {}
        for acc, found in macs.items():
            if _owner(acc, hlscpp.ArrayOp) is None:
                return False
            mac_stores = {s for s, _ in found}
            mac_loads = {m[0][2] for _, m in found}
            sets, reads = [], []
            for use in acc.uses:
                user = use.operation
                if isinstance(user, hlscpp.StoreOp) and user not in mac_stores:
                    sets.append(user)
                elif isinstance(user, hlscpp.LoadOp) and user not in mac_loads:
                    reads.append(user)
                elif not isinstance(user, (hlscpp.StoreOp, hlscpp.LoadOp)):
                    return False
            q = list(found[0][0].indices)
            flagged_sets, flagged_reads = [], []
            for op in sets + reads:
                if list(op.indices) != q:
                    return False
                flag = None
                for cond in self._guards(op):
                    flag = flag or self._fold_flags(cond, counter)
                if flag is None or (counter is not None and flag[0] is not counter):
                    return False
                counter = flag[0]
                if op in reads:  # read at each of its folds (a row's last fold at step 0 or after)
                    flagged_reads += [(b, op) for b in flag[1]]
                elif len(flag[1]) == 1:
                    flagged_sets.append((flag[1][0], op))
                else:
                    return False
            if not flagged_sets or not flagged_reads:
                return False
            read_folds = sorted(b for b, _ in flagged_reads)
            segments = []
            for a, reset in flagged_sets:
                ends = [b for b in read_folds if b >= a]
                if not ends or not isinstance(reset.parent_op(), hlscpp.IfOp):
                    return False
                start = reset.value
                load = _owner(start, hlscpp.LoadOp)
                if _const_of(start) != 0 and (
                    load is None or load.array in written or load.parent_op() is not reset.parent_op()
                ):
                    return False
                assert counter is not None
                dots = self._segment(found, counter, a, ends[0], reset)
                if dots is None:
                    return False
                for dot in dots:
                    if dot.w not in values:
                        values[dot.w] = _native_values(dot.w)
                    dot.settle(values[dot.w])
                    if dot.ctype is None:
                        return False
                self.dots[reset] = dots
                segments.append((a, ends[0]))
            segments_of[acc] = segments
            for _, (ops, _) in found:
                self.skip.update(ops)
        # the inputs hold still during the loop (the dot products read them when the accumulator is set)
        inputs = {dot.x for dots in self.dots.values() for dot in dots}
        for op in loop.walk():
            if (isinstance(op, hlscpp.StoreOp) and op.array in inputs) or (
                isinstance(op, hlscpp.CallOp) and inputs.intersection(op.args)
            ):
                return False
        self._jump(body, counter, segments_of)
        return True

    def _segment(self, found, counter: SSAValue, a: int, b: int, reset) -> list[_Dot] | None:
        """The dot products of the folds a .. b of the multiply-accumulates `found` (one per input array), or
        None when a guard, operand or column is not an expression of the counter, or the columns of an array
        are not one range read once each."""
        terms: dict[tuple, list[int]] = {}
        for sf in range(a, b + 1):
            env = {counter: sf}
            for store, (ops, mac) in found:
                guards = [_evaluate(c, env) for c in self._guards(store)]
                if any(g is None for g in guards):
                    return None
                if not all(guards):
                    continue
                x_load = mac.x_load(env)
                if x_load is None:
                    return None
                col = _evaluate(x_load.indices[-1], env)
                k = _evaluate(mac.k, env)
                if col is None or k is None:
                    return None
                key = (x_load.array, tuple(x_load.indices[:-1]), k - col, mac.w, mac.n)
                terms.setdefault(key, []).append(col)
        dots = []
        for (x, lead, r0, w, n), cols in terms.items():
            c0, size = min(cols), len(cols)
            shape = SSAValue.get(x, type=MemRefType).type.get_shape()
            if sorted(cols) != list(range(c0, c0 + size)) or c0 < 0 or c0 + size > shape[-1]:
                return None
            if r0 + c0 < 0 or r0 + c0 + size > w.result.type.get_shape()[0]:
                return None
            if not all(_available_before(v, reset) for v in (*lead, n)):
                return None
            dots.append(_Dot(x, lead, r0, size, w, n, c0))
        return dots

    def _jump(self, body, counter: SSAValue | None, segments_of: dict) -> None:
        """Jump over the folds strictly inside the segments (a .. b, b - a > 1) when they do nothing but
        accumulate (see the class): no accumulator is set or read there, the counter provably steps by one
        through them, and every other side effect happens at a fold outside them (or is a counter)."""
        load = _owner(counter, hlscpp.LoadOp) if counter is not None else None
        if counter is None or load is None or self.loop.body.block.args[0].uses:
            return
        updates = [
            op for op in body.ops if isinstance(op, hlscpp.StoreOp) and not op.indices and op.array is load.array
        ]
        segments = {seg for segs in segments_of.values() for seg in segs}
        inner = sorted((a, b) for a, b in segments if b - a > 1)
        if len(updates) != 1 or not inner:
            return
        skipped = {f for a, b in inner for f in range(a + 1, b)}
        if any(a in skipped or b in skipped for a, b in segments):
            return
        if any(_evaluate(updates[0].value, {counter: f}) != f + 1 for a, b in inner for f in range(a, b)):
            return
        # no side effect in the skipped folds but the counters (index arrays at the top level: the column
        # counter, and row/turn counters that change with its wrap-around)
        for op in self.loop.walk():
            if (
                op is self.loop
                or op in self.skip
                or not isinstance(op, (hlscpp.StoreOp, hlscpp.WriteOp, hlscpp.ReadOp, hlscpp.CallOp))
            ):
                continue
            if (
                isinstance(op, hlscpp.StoreOp)
                and op.parent_block() is body
                and not op.indices
                and isinstance(_element_type(op.array), IndexType)
            ):
                continue
            guards = [
                flag[1]
                for c in self._guards(op)
                if (flag := self._fold_flags(c, counter)) is not None and flag[0] is counter
            ]
            if not any(all(f not in skipped for f in folds) for folds in guards):  # it may run in a skipped fold
                return
        self.jump = (load.array, inner)

    def _mac(self, store: hlscpp.StoreOp):
        """(the ops of `acc[q] = acc[q] + x * w`, its _Mac) or None; x is a load, or a select of two loads."""
        add = _owner(store.value, hlscpp.BinaryOp, "add")
        acc_type = store.array.type
        if (
            add is None
            or not isinstance(acc_type, MemRefType)
            or not _is_ap(add.result.type)
            or add.result.type != acc_type.element_type
        ):
            return None
        old, mul = _owner(add.lhs, hlscpp.LoadOp), _owner(add.rhs, hlscpp.BinaryOp, "mul")
        if old is None or mul is None or old.array is not store.array or list(old.indices) != list(store.indices):
            return None
        lw = _owner(mul.rhs, hlscpp.LoadOp)
        sel = _owner(mul.lhs, hlscpp.SelectOp)
        loads = [_owner(sel.if_true, hlscpp.LoadOp), _owner(sel.if_false, hlscpp.LoadOp)] if sel else []
        lx = _owner(mul.lhs, hlscpp.LoadOp)
        xs = [lx] if sel is None else loads
        w = _owner(lw.array, hlscpp.ArrayOp) if lw is not None else None
        if (
            any(x is None for x in xs)
            or lw is None
            or w is None
            or w.init is None
            or w.storage.data != "static_const"
            or len(lw.indices) != 2
        ):
            return None
        x_loads = [x for x in xs if x is not None]
        if not all(isinstance(x.array.type, MemRefType) and _is_ap(x.result.type) for x in x_loads):
            return None
        if not all(_is_ap(v.type) for v in (mul.lhs, lw.result, mul.result)):
            return None
        corners = [a * b for a in value_range(mul.lhs.type) for b in value_range(lw.result.type)]
        lo, hi = value_range(mul.result.type)
        if not (lo <= min(corners) and max(corners) <= hi):  # the product is exact in the ap kernel too
            return None
        if sel is not None and not (
            all(value_range(x.result.type) == value_range(sel.result.type) for x in x_loads)
            and _only_used_by(sel.result, mul)
        ):
            return None
        if not (
            _only_used_by(add.result, store)
            and _only_used_by(old.result, add)
            and _only_used_by(mul.result, add)
            and all(_only_used_by(x.result, sel if sel is not None else mul) for x in x_loads)
            and _only_used_by(lw.result, mul)
        ):
            return None
        ops = [store, add, old, mul, lw, *x_loads] + ([sel] if sel is not None else [])
        return ops, _Mac(sel, x_loads, lw.indices[0], w, lw.indices[1])


class _Mac:
    """One multiply-accumulate of an MVAU loop: x (a load, or `cond ? a : b` of two loads) times W[k, n]."""

    def __init__(self, sel, loads: list, k: SSAValue, w: hlscpp.ArrayOp, n: SSAValue):
        self.sel, self.loads, self.k, self.w, self.n = sel, loads, k, w, n

    def x_load(self, env: dict[SSAValue, int]):
        """The load x comes from at the counter value in `env` (None: the choice is not known)."""
        if self.sel is None:
            return self.loads[0]
        c = _evaluate(self.sel.cond, env)
        return None if c is None else self.loads[0 if c else 1]


def lazy_accumulators(fn: hlscpp.FuncOp, skip: set) -> dict[SSAValue, dict[hlscpp.StoreOp, tuple]]:
    """Local ap arrays that the twin keeps unwrapped in int64_t: those with an accumulating store
    `a[i] = a[i] + y` (the add typed as a's elements, read and written nowhere else). The ap kernel wraps every
    sum to W bits; the twin adds modulo 2^64 and wraps where the array is read otherwise, which gives the same
    value (wrapping is a ring homomorphism) and takes the wrap off the loop-carried chain (a threshold count's
    63 comparisons then vectorize). Arrays read or written any other way (passed to a call) keep their type.
    Returns each such array's accumulating stores -> (y, the add, the load of a[i])."""
    out: dict[SSAValue, dict[hlscpp.StoreOp, tuple]] = {}
    for op in fn.walk():
        if not isinstance(op, hlscpp.ArrayOp) or op.init is not None or not _is_ap(op.result.type.element_type):
            continue
        arr, stores, ok = op.result, {}, True
        for use in arr.uses:
            user = use.operation
            if isinstance(user, hlscpp.LoadOp) and user.array is arr:
                continue
            if not isinstance(user, hlscpp.StoreOp) or user.value is arr or user in skip:
                ok = False
                break
            add = _owner(user.value, hlscpp.BinaryOp, "add")
            if add is None or add.result.type != arr.type.element_type or not _only_used_by(add.result, user):
                continue
            for mine, other in ((add.lhs, add.rhs), (add.rhs, add.lhs)):
                load = _owner(mine, hlscpp.LoadOp)
                if (
                    load is not None
                    and load.array is arr
                    and list(load.indices) == list(user.indices)
                    and _only_used_by(load.result, add)
                    and mine is not other
                ):
                    stores[user] = (other, add, load)
                    break
        if ok and stores:
            out[arr] = stores
    return out


class NativeCppPrinter(CppPrinter):
    """Prints the C-simulation twin of a function: ap types become int64_t (scalars) and the smallest native
    integer per array element; each expression is exact in int64_t (or modulo 2^64, then wrapped), and wrapped
    to the ap result type where its operand types allow a value outside it. No directives."""

    def __init__(self, out: IO[str], initializers: dict | None = None, ports: Set[SSAValue] = frozenset()):
        super().__init__(out, initializers)
        self.consts: dict[SSAValue, int] = {}
        self.ports = ports  # the top function's port streams (port_streams)
        # MVAU loops run as dot products (MvauTwin): ops not printed, accumulator resets that become dot
        # products, loops that jump over column folds, the transposed weight slices' names
        self.skip: set = set()
        self.dots: dict[hlscpp.StoreOp, list[_Dot]] = {}
        self.jumps: dict[hlscpp.ForOp, tuple[SSAValue, list[tuple[int, int]]]] = {}
        self.slices: dict[tuple, str] = {}
        # accumulators kept unwrapped (lazy_accumulators): array -> its accumulating stores -> the addend
        self.lazy: dict[SSAValue, dict[hlscpp.StoreOp, tuple]] = {}

    def pragma(self, text: str) -> None:
        pass  # the twin is never synthesized

    def print_func(self, fn: hlscpp.FuncOp) -> None:
        self.consts, self.skip, self.dots, self.jumps, self.slices = {}, set(), {}, {}, {}
        for op in fn.walk():
            if isinstance(op, hlscpp.ForOp) and (mvau := MvauTwin.find(op)) is not None:
                self.skip |= mvau.skip
                self.dots.update(mvau.dots)
                if mvau.jump is not None:
                    self.jumps[op] = mvau.jump
        self.lazy = lazy_accumulators(fn, self.skip)
        for stores in self.lazy.values():
            for store, (_, add, load) in stores.items():
                self.skip.update((add, load))  # the store adds in place
        super().print_func(fn)

    def fresh(self) -> str:
        """A new temporary name (v<N>, which no name from the IR can be)."""
        self.counter += 1
        return f"v{self.counter - 1}"

    def print_op(self, op) -> None:
        if op not in self.skip:
            super().print_op(op)

    def end_of_loop_body(self, op: hlscpp.ForOp) -> None:
        if op in self.jumps:
            counter, segments = self.jumps[op]
            sf, i = self.name(counter), self.name(op.body.block.args[0])
            for a, b in segments:
                self.line(
                    f"if ({sf} == {a + 1}) {{  // folds {a + 1} .. {b - 1} only accumulate: the dot products did that"
                )
                with self.indented():
                    self.line(f"{sf} = {b};")
                    self.line(f"{i} += {b - a - 1};")
                self.line("}")

    def _dot(self, op: hlscpp.StoreOp, dots: list[_Dot]) -> None:
        """`acc[q] = <its start> + <the dot products of its segment>`, wrapped to the accumulator's type
        (MvauTwin)."""
        zero = _const_of(op.value) == 0
        lo, hi = (0, 0) if zero else self.range_of(op.value)
        terms = [] if zero else [f"(int64_t){self.name(op.value)}"]
        for dot in dots:
            ctype, total, c = dot.ctype, self.fresh(), self.fresh()
            col = f"{dot.c0} + {c}" if dot.c0 else c
            x = f"{self.name(dot.x)}{self._index(dot.lead)}[{col}]"
            w = f"{self.slices[(dot.w, *dot.rows)]}[{self.name(dot.n)}][{c}]"
            self.line(f"{ctype} {total} = 0;")
            self.line(f"for (int {c} = 0; {c} < {dot.size}; {c}++) {total} += ({ctype}){x} * ({ctype}){w};")
            terms.append(total if len(dots) == 1 and zero else f"(int64_t){total}")
            lo, hi = lo - dot.bound, hi + dot.bound
        value = self.fit(" + ".join(terms) or "0", (lo, hi), cast(MemRefType, op.array.type).element_type)
        self.line(f"{self.name(op.array)}{self._index(op.indices)} = {value};")

    def declaration(self, value: SSAValue, name: str) -> str:
        ty = value.type
        if hlscpp.stream_element_type(ty) is not None:
            if isinstance(ty, hlscpp.StreamType):
                return f"{self.stream_type(value)} &{name}"
            assert isinstance(ty, MemRefType)  # an array of streams
            return f"{self.stream_type(value)} {name}{_dims(ty)}"
        if isinstance(ty, MemRefType):
            return f"{native_element_type(ty.element_type)} {name}{_dims(ty)}"
        return f"{self.scalar_type(ty)} {name}"

    @staticmethod
    def scalar_type(ty: Attribute) -> str:
        return "int64_t" if _is_ap(ty) else cpp_type(ty)

    def is_fifo(self, stream: SSAValue) -> bool:
        """A stream (or array of streams) of ap values inside the kernel, whose values the twin writes wrapped
        to the element type; a port may hold any int64_t the testbench wrote (reads wrap them)."""
        return _is_ap(hlscpp.stream_element_type(stream.type)) and stream not in self.ports

    def stream_type(self, stream: SSAValue) -> str:
        """The C++ type of the stream, or of each stream of an array of them: every stream of the twin is a
        CSIM_STREAM (int64_t values), except the ports, streams of AXI4-Stream beats (`lstmc_tb::axis<W>`)."""
        elem = hlscpp.stream_element_type(stream.type)
        if isinstance(elem, hlscpp.AxisType):
            return f"lstmc_tb::stream<{native_axis_type(elem)}>"
        return CSIM_STREAM

    def range_of(self, value: SSAValue) -> tuple[int, int]:
        if value in self.consts:
            return self.consts[value], self.consts[value]
        return value_range(value.type)

    def is_int64(self, value: SSAValue) -> bool:
        """Whether C++ evaluates arithmetic on this operand in 64 bits (not `int` or `bool`)."""
        if value in self.consts:
            return not -(1 << 31) <= self.consts[value] < 1 << 31
        return _is_ap(value.type)

    def fit(self, expr: str, rng: tuple[int, int], ty: Attribute) -> str:
        """`expr` (holding a value in `rng`) as a value of `ty`: wrapped unless the range fits."""
        lo, hi = value_range(ty)
        return expr if lo <= rng[0] and rng[1] <= hi or not _is_ap(ty) else _wrap_expr(expr, ty)

    def assign(self, op, expr: str, rng: tuple[int, int]) -> None:
        ty = op.result.type
        self.line(f"{self.scalar_type(ty)} {self.name(op.result)} = {self.fit(expr, rng, ty)};")

    def _const(self, op: hlscpp.ConstOp) -> None:
        if not _is_ap(op.result.type):
            return super()._const(op)
        value = wrap_value(op.value.value.data, op.result.type)
        self.consts[op.result] = value
        self.exprs[op.result] = str(value) if -(1 << 31) <= value < 1 << 31 else f"{value}LL"

    def _array(self, op: hlscpp.ArrayOp) -> None:
        if op.result in self.lazy:
            self.line(f"int64_t {self.name(op.result)}{_dims(op.result.type)};")
            return
        for dot in (d for dots in self.dots.values() for d in dots):  # weights of dot products: transposed slices
            if dot.w is op and (op, *dot.rows) not in self.slices:
                assert dot.weights is not None  # MvauTwin settled it
                name = self.slices[(op, *dot.rows)] = self.fresh()
                rows = op.result.type.get_shape()[1]
                self.line(
                    f"static const {native_element_type(op.result.type.element_type)} {name}[{rows}][{dot.size}] = "
                    f"{_initializer(dot.weights)};"
                )
        if op.result.uses and all(u.operation in self.skip for u in op.result.uses):
            return  # only the skipped multiply-accumulates read it
        name = self.name(op.result)
        ty = op.result.type
        decl = f"{native_element_type(ty.element_type)} {name}{_dims(ty)}"
        storage = op.storage.data
        if op.init is None:
            self.line(("static " if storage == "static" else "") + decl + ";")
            return
        values = array_from_dense(op.init).astype(np.int64)
        elem = ty.element_type
        if _is_ap(elem):
            lo, hi = value_range(elem)
            if values.size and (values.min() < lo or values.max() > hi):  # the ap array keeps the low bits
                values = np.vectorize(lambda v: wrap_value(int(v), elem), otypes=[np.int64])(values)
                text = _initializer(values)
            else:
                text = self.formatted_initializer(op, values)
        else:
            text = self.formatted_initializer(op, values)
        prefix = "static const " if storage == "static_const" else ("static " if storage == "static" else "")
        self.line(f"{prefix}{decl} = {text};")

    def _load(self, op: hlscpp.LoadOp) -> None:
        elem = _element_type(op.array)
        rng = (-(1 << 63), (1 << 63) - 1) if op.array in self.lazy else value_range(elem)  # unwrapped: wrap here
        self.assign(op, f"{self.name(op.array)}{self._index(op.indices)}", rng)

    def _store(self, op: hlscpp.StoreOp) -> None:
        if op in self.dots:
            return self._dot(op, self.dots[op])
        if op.array in self.lazy and op in self.lazy[op.array]:  # modulo 2^64: exact modulo 2^W too
            target = f"{self.name(op.array)}{self._index(op.indices)}"
            addend = self.name(self.lazy[op.array][op][0])
            self.line(f"{target} = (int64_t)((uint64_t){target} + (uint64_t)({addend}));")
            return
        value = self.fit(self.name(op.value), self.range_of(op.value), _element_type(op.array))
        self.line(f"{self.name(op.array)}{self._index(op.indices)} = {value};")

    def _stream(self, op: hlscpp.StreamOp) -> None:
        name = self.name(op.result)
        ty = op.result.type
        if isinstance(ty, MemRefType):
            self.line(f"{self.stream_type(op.result)} {name}{_dims(ty)};")
        else:
            self.line(f'{self.stream_type(op.result)} {name}("{name}");')

    def _read(self, op: hlscpp.ReadOp) -> None:
        elem = hlscpp.stream_element_type(op.stream.type)  # a FIFO holds its element type's values: see _write
        assert elem is not None
        if isinstance(elem, hlscpp.AxisType):  # a beat of a port
            stream = f"{self.name(op.stream)}{self._index(op.indices)}"
            self.line(f"{native_axis_type(elem)} {self.name(op.result)} = {stream}.read();")
            return
        port = _is_ap(elem) and not self.is_fifo(op.stream)
        # a port holds what the testbench wrote: the ap port's element constructor would have wrapped it
        rng = (-(1 << 63), (1 << 63) - 1) if port else value_range(elem)
        self.assign(op, f"{self.name(op.stream)}{self._index(op.indices)}.read()", rng)

    def _write(self, op: hlscpp.WriteOp) -> None:
        elem = hlscpp.stream_element_type(op.stream.type)
        value = self.name(op.value)
        if _is_ap(elem):  # wrapped as the ap stream's element constructor would
            value = self.fit(value, self.range_of(op.value), elem)
        self.line(f"{self.name(op.stream)}{self._index(op.indices)}.write({value});")

    def _pack(self, op: hlscpp.PackOp) -> None:
        bits = self.code_bits(op)
        name, count, known = self.name(op.result), self.name(op.count), _const_of(op.count)
        self.line(f"{native_axis_type(op.result.type)} {name};")
        for i, guard, code in self.pack_lines(op):
            self.line(f"{guard}lstmc_tb::put_bits({name}.data, {i * bits}, {bits}, (uint64_t)({code}));")
        nbytes = str((known * bits + 7) // 8) if known is not None else f"({count} * {bits} + 7) / 8"
        self.line(f"lstmc_tb::set_keep({name}, {nbytes});")
        self.line(f"{name}.last = {self.name(op.last)};")

    def _unpack(self, op: hlscpp.UnpackOp) -> None:
        bits = self.code_bits(op)
        ty = op.result.type
        assert isinstance(ty, IntegerType)
        field = f"lstmc_tb::get_bits({self.name(op.beat)}.data, {self.lane_offset(op.lane, bits)}, {bits})"
        self.line(f"int64_t {self.name(op.result)} = {_wrap_expr(field, ty)};")

    def _binary(self, op: hlscpp.BinaryOp) -> None:
        kind = op.kind.data
        if kind in _CMP and not _is_ap(op.result.type):
            self.line(f"{cpp_type(op.result.type)} {self.name(op.result)} = {self.compare(kind, op.lhs, op.rhs)};")
            return
        if not _is_ap(op.result.type):  # index arithmetic, logic on bools: as in the ap kernel
            return super()._binary(op)
        a, b = self.name(op.lhs), self.name(op.rhs)
        ra, rb = self.range_of(op.lhs), self.range_of(op.rhs)
        if not (self.is_int64(op.lhs) or self.is_int64(op.rhs)):
            a = f"(int64_t){a}"  # int operands: compute in 64 bits as ap_int does in its own widths
        if kind in ("add", "sub", "mul"):
            fn = {"add": int.__add__, "sub": int.__sub__, "mul": int.__mul__}[kind]
            corners = [fn(x, y) for x in ra for y in rb]
            rng = min(corners), max(corners)
            expr = f"{a} {_ARITH[kind]} {b}"
            if not -(1 << 63) <= rng[0] <= rng[1] < 1 << 63:  # only products: the low 64 bits are exact
                expr = f"(int64_t)((uint64_t)({a}) * (uint64_t)({b}))"
        elif kind in ("min", "max"):  # `(a < b) ? T(a) : T(b)` in the ap kernel: wrap the chosen operand
            rng = min(ra[0], rb[0]), max(ra[1], rb[1])
            expr = f"({self.compare('lt' if kind == 'min' else 'gt', op.lhs, op.rhs)}) ? {a} : {b}"
        elif kind in ("and", "or"):
            rng = _bitwise_range(kind, ra, rb)
            expr = f"{a} {'&' if kind == 'and' else '|'} {b}"
        elif kind == "shr":  # by a constant 0..62 (native_twin_blocker): floor(a / 2^n) in both
            const = op.rhs.owner
            assert isinstance(const, hlscpp.ConstOp)  # native_twin_blocker: a shift by a constant
            n = const.value.value.data
            rng = ra[0] >> n, ra[1] >> n
            expr = f"{a} >> {n}"
        elif kind in ("div", "mod"):  # operands of one signedness (native_twin_blocker): C++'s truncating / and %
            bound = max(abs(ra[0]), abs(ra[1]))
            rng = -bound, bound
            expr = f"{a} {_ARITH[kind]} {b}"
        elif kind in _CMP:  # a bool into an ap type
            rng = 0, 1
            expr = self.compare(kind, op.lhs, op.rhs)
        else:
            raise EmissionError(f"hls-cpp: no native twin for binary '{kind}'")
        self.assign(op, expr, rng)

    def compare(self, kind: str, lhs: SSAValue, rhs: SSAValue) -> str:
        """A comparison as ap_int evaluates it. Operands of one signedness, or a mix below 32 bits, compare by
        value. A signed/unsigned mix with a 32-bit or wider operand follows C's conversions (etc/ap_private.h):
        ordering is unsigned when the unsigned operand is at least as wide (a negative value then compares
        above every unsigned one, as its uint64_t does), and equality compares the low max(W1, W2, 32) bits."""
        a, b, op = self.name(lhs), self.name(rhs), _CMP[kind]
        (w1, s1), (w2, s2) = _ap_operand(lhs.type), _ap_operand(rhs.type)
        if all(-(1 << 31) <= r[0] and r[1] < 1 << 31 for r in (self.range_of(lhs), self.range_of(rhs))):
            # by value, in 32 bits: x86-64's baseline SIMD has no 64-bit compare, so a threshold count's
            # comparisons vectorize only like this
            return f"(int32_t){a} {op} (int32_t){b}" if self.is_int64(lhs) or self.is_int64(rhs) else f"{a} {op} {b}"
        if s1 == s2 or not (_is_ap(lhs.type) or _is_ap(rhs.type)):
            return f"{a} {op} {b}"
        if kind in ("eq", "ne"):
            mask = hex((1 << max(w1, w2, 32)) - 1)
            return f"((uint64_t)({a}) & {mask}ULL) {op} ((uint64_t)({b}) & {mask}ULL)"
        if max(w1, w2) >= 32 and (w2 if s1 else w1) >= (w1 if s1 else w2):
            return f"(uint64_t)({a}) {op} (uint64_t)({b})"
        return f"{a} {op} {b}"

    def _select(self, op: hlscpp.SelectOp) -> None:
        ty = op.result.type
        if not _is_ap(ty):
            return super()._select(op)
        t = self.fit(self.name(op.if_true), self.range_of(op.if_true), ty)
        f = self.fit(self.name(op.if_false), self.range_of(op.if_false), ty)
        self.line(f"int64_t {self.name(op.result)} = {self.name(op.cond)} ? {t} : {f};")

    def _cast(self, op: hlscpp.CastOp) -> None:
        if not _is_ap(op.result.type):
            return super()._cast(op)
        self.assign(op, self.name(op.input), self.range_of(op.input))


def native_axis_type(ty: Attribute) -> str:
    """The twin's AXI4-Stream beat (CSIM_STREAM's support code)."""
    assert isinstance(ty, hlscpp.AxisType)
    return f"lstmc_tb::axis<{ty.width.data}>"


def emit_hls_cpp(module: ModuleOp, out: IO[str], header: str | None = None, csim_twin: bool = True) -> None:
    """The kernel's C++. With `csim_twin` (and a module that allows it, native_twin_blocker) the functions are
    printed twice: the ap_int kernel for synthesis, whose text is exactly what `csim_twin=False` prints after
    the includes, then (after #else) the native-integer twin for C-simulation."""
    CppPrinter(out).print_module(module, header, csim_twin)


# The kernel's function type, declared by the header next to its prototype, in lstmc's reserved namespace: the
# testbench takes its port types from it. `decltype(::kernel)` cannot: a --kernel-name such as `select`, `round`
# or `remove` also names C library functions that the Xilinx and C++ headers declare at global scope.
KERNEL_TYPE = "kernel_fn"


def emit_header(module: ModuleOp, out: IO[str], guard: str = "LSTMC_KERNEL_H", csim_twin: bool = True) -> None:
    """The kernel's header: includes and the top function's prototype. With a native twin (as emit_hls_cpp
    decides) the ap_int prototype is what Vitis synthesizes and what `-DLSTMC_CSIM_AP_TYPES` simulates; every
    other build sees the twin's prototype, whose ports are CSIM_STREAMs, and includes no Xilinx header."""
    identifier(guard, "header guard")
    printer = CppPrinter(out)
    printer.line("// Generated by lstmc. Do not edit: regenerate with `lstmc compile`.")
    printer.line(f"#ifndef {guard}")
    printer.line(f"#define {guard}")
    twin = csim_twin and native_twin_blocker(module) is None
    if twin:
        printer.line(AP_GUARD)
    for name in KERNEL_INCLUDES:
        printer.line(f"#include <{name}>")
    for text in AXIS_SUPPORT.splitlines():
        printer.line(text)
    tops = [op for op in module.ops if isinstance(op, hlscpp.FuncOp) and op.top is not None]

    def declare(p: CppPrinter) -> None:
        protos = [p.prototype(op) for op in tops]
        for proto in protos:
            p.line(proto + ";")
        if protos:  # the testbench's view of the kernel, the first top (see KERNEL_TYPE)
            p.line(f"namespace lstmc_tb {{ typedef void {KERNEL_TYPE}{protos[0][protos[0].index('(') :]}; }}")

    declare(printer)
    if twin:
        printer.line("#else  // C-simulation: the native-integer twin's ports (no Xilinx header)")
        for text in _CSIM_SUPPORT.splitlines():
            printer.line(text)
        declare(NativeCppPrinter(out, ports=port_streams(module)))
        printer.line("#endif")
    printer.line(f"#endif  // {guard}")
