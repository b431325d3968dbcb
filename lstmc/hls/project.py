"""Writing a Vitis HLS project (kernel, testbench, golden vectors, TCL) and running its C-simulation with g++.

Kernel interface: every graph input arrives as integer codes on an AXI4-Stream (`hls::stream<ap_axiu<W, 0, 0,
0>>`, row-major, one sequence per kernel call; P codes of b bits per W-bit beat, code i at bits [i*b, (i+1)*b),
the last beat zero-padded, TKEEP/TSTRB on the bytes holding codes, TLAST on the last beat only: `Port`'s
packing, from `--axis-bits`); every graph output leaves the same way. The testbench packs the input codes into
beats and unpacks the outputs with one logic for the ap_int kernel and the native twin (only five beat
accessors differ), and fails naming the port when an output's TLAST is missing, early or repeated, its
TKEEP/TSTRB or padding is wrong, or its beat count is not ceil(codes / P). It has two modes:
- no arguments: reads tb_input.bin / tb_expected.bin (golden vectors from the integer interpreter), runs
  every sequence and compares every output code (exit status 1 on any mismatch) — what `csim_design` runs;
- `tb IN.bin OUT.bin`: runs the sequences of IN.bin and writes the output codes — what `lstmc run --stage
  csim` uses.
Binary files: int32 N (sequences), then for each sequence each port's codes as int32, ports in order.
A kernel compiled with `--max-seq-len` (a `seq_len` port) takes each sequence's length T at run time: its files
hold, before each sequence's codes, that sequence's int32 T (1 <= T <= max-seq-len, checked), and its sequence
ports (time on axis 0) carry T rows; the testbench passes T to the kernel's `seq_len`.
After each call the testbench checks that every input stream was drained and every output stream holds exactly
its port's beats. `project_readme` writes the project's README.md (build steps, ports, fixed-point meaning).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from xdsl.dialects import func
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, Signedness

from lstmc import numerics
from lstmc.dialects import qrnn
from lstmc.errors import LstmcError
from lstmc.numerics import quant_params


@dataclass
class Port:
    name: str
    shape: tuple[int, ...]  # a sequence port: at the largest T
    quant: qrnn.QuantAttr
    sequence: bool = False  # time on axis 0, as long as the run-time seq_len
    bits: int = 8  # of a code (the port's element type)
    signed: bool = True
    beat_bits: int = 8  # the AXI4-Stream's TDATA width
    codes_per_beat: int = 1  # P: code i of a beat at bits [i * bits, (i + 1) * bits), TLAST on the last beat

    def beats_at(self, seq_len: int | None) -> int:
        """Beats per inference: ceil(codes / P) (the last one zero-padded)."""
        return -(-self.size_at(seq_len) // self.codes_per_beat)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def shape_at(self, seq_len: int | None) -> tuple[int, ...]:
        return (seq_len, *self.shape[1:]) if self.sequence and seq_len is not None else self.shape

    def size_at(self, seq_len: int | None) -> int:
        return int(np.prod(self.shape_at(seq_len)))


@dataclass
class KernelInterface:
    inputs: list[Port]
    outputs: list[Port]
    max_seq_len: int | None = None  # set: the kernel takes each sequence's T at run time (its seq_len port)

    def seq_len_of(self, inputs: dict[str, np.ndarray]) -> int | None:
        """The T of a batch [N, T, ...] for a run-time-length kernel (None for a fixed-length one), checked
        against the kernel's largest T: one batch, one T."""
        if self.max_seq_len is None:
            return None
        lengths = {p.name: np.shape(inputs[p.name])[1] for p in self.inputs if p.sequence}
        if len(set(lengths.values())) != 1:
            raise LstmcError(f"the sequence inputs of one batch need one length, got {lengths}")
        t = next(iter(lengths.values()))
        check_seq_len(t, self.max_seq_len)
        return t

    def quantize_inputs(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Float model inputs [N, ...] -> centred integer codes per input port (as qrnn.quantize does)."""
        codes = []
        for p in self.inputs:
            x = np.asarray(inputs[p.name], np.float32)
            codes.append(numerics.centred_codes(x, quant_params(p.quant), batched=True).reshape(x.shape[0], -1))
        return codes

    def dequantize_outputs(self, codes: list[np.ndarray], seq_len: int | None = None) -> dict[str, np.ndarray]:
        return {p.name: dequantize_port(p, c, seq_len) for p, c in zip(self.outputs, codes)}


def check_seq_len(seq_len: int, max_seq_len: int) -> None:
    if not 1 <= seq_len <= max_seq_len:
        raise LstmcError(
            f"sequence length {seq_len} is outside 1..{max_seq_len}: the kernel was compiled with "
            f"--max-seq-len {max_seq_len}"
        )


def dequantize_port(p: Port, codes: np.ndarray, seq_len: int | None = None) -> np.ndarray:
    """Centred codes [N, size] of one port -> float values [N, *shape] (as qrnn.dequantize does); a sequence
    port at `seq_len` steps."""
    c = codes.reshape((codes.shape[0], *p.shape_at(seq_len)))
    q = quant_params(p.quant)
    s = numerics.channel_values(q.scale, q.axis, c.ndim, np.float32, batched=True)
    return c.astype(np.float32) * s


def kernel_interface(module: ModuleOp) -> KernelInterface:
    """Ports of the kernel, in order: the port list `qrnn-to-hlscpp` recorded on the top hlscpp.func of an
    HLS-level module, or for an integer/dataflow-level module the same list computed by the one port function
    (`lstmc.ports.kernel_ports`)."""
    from lstmc.dialects import hlscpp
    from lstmc.ports import MAX_SEQ_LEN, HlsConversionError, kernel_ports, max_seq_len_of, recorded_ports

    top = next((op for op in module.ops if isinstance(op, hlscpp.FuncOp) and op.top is not None), None)
    if top is not None:
        ports = recorded_ports(top)
        if ports is None:
            raise LstmcError("the HLS-level module has no port record (lstmc.ports): lower it with qrnn-to-hlscpp")
        n = top.attributes.get(MAX_SEQ_LEN)
        max_seq_len = n.value.data if isinstance(n, IntegerAttr) else None
    else:
        fn = next(op for op in module.ops if isinstance(op, func.FuncOp))
        try:
            ports, max_seq_len = kernel_ports(fn), max_seq_len_of(fn)
        except HlsConversionError as e:  # a design that is no kernel (an output that is not integer codes)
            raise LstmcError(str(e)) from e

    def port(p) -> Port:
        signed = p.element_type.signedness.data != Signedness.UNSIGNED
        return Port(p.name, p.shape, p.quant, p.sequence, p.bits, signed, p.beat_bits, p.codes_per_beat)

    inputs = [port(p) for p in ports if p.direction == "in"]
    outputs = [port(p) for p in ports if p.direction == "out"]
    return KernelInterface(inputs, outputs, max_seq_len)


def write_codes(path: Path, per_port: list[np.ndarray], seq_len: int | None = None) -> None:
    """Codes [N, size] per port; with `seq_len` (a run-time-length kernel) each sequence starts with it."""
    n = per_port[0].shape[0] if per_port else 0
    body = np.concatenate([p.reshape(n, -1) for p in per_port], axis=1) if per_port else np.zeros((0, 0))
    if seq_len is not None:
        body = np.concatenate([np.full((n, 1), seq_len), body.reshape(n, -1)], axis=1)
    with open(path, "wb") as f:
        np.array([n], "<i4").tofile(f)
        body.astype("<i4").tofile(f)


def read_codes(path: Path, sizes: list[int], seq_len: int | None = None) -> list[np.ndarray]:
    """The codes write_codes wrote (sizes: per port, at `seq_len` when the file gives one per sequence)."""
    data = np.fromfile(path, "<i4")
    n = int(data[0])
    body = data[1:].reshape(n, sum(sizes) + (seq_len is not None)).astype(np.int64)
    if seq_len is not None:
        if not np.all(body[:, 0] == seq_len):
            raise LstmcError(f"{path}: a sequence's length is not {seq_len}")
        body = body[:, 1:]
    out, col = [], 0
    for s in sizes:
        out.append(body[:, col : col + s])
        col += s
    return out


def testbench_source(kernel: str, iface: KernelInterface, header: str, port_types: list[str]) -> str:
    """The C++ testbench (see the module docstring); `kernel` is the top function's (legalized) name,
    port_types are the C++ types of the codes on its stream ports (inputs, then outputs) in the synthesized
    kernel, named in comments: the testbench declares each port's stream with the type of the kernel's
    parameter as the header declares it (`param`), so one testbench builds against the ap_int kernel (ports of
    ap_axiu beats) and against the native-integer twin, whose ports are lstmc_tb::stream<lstmc_tb::axis<W>>
    (lstmc/hls/emit.py); the beat accessors are chosen by overloading, and packing (`send`) and unpacking with
    the framing checks (`receive`: TLAST, TKEEP/TSTRB, zero padding, beat count) are one code for both. Port
    names are the model's, untrusted: they appear only in escaped comments and string literals.

    After every kernel call each output stream must hold exactly its port's beats, framed as `Port` says, and
    each input stream must be drained: anything else means the kernel and its interface disagree (in RTL
    co-simulation it would hang, or a DMA would cut the transfer), so the testbench names the port and fails.
    Files are closed on every return path (RAII)."""
    from lstmc.hls.emit import KERNEL_TYPE, identifier, include_name
    from lstmc.passes.hlscpp_prepare_emission import c_comment, c_string

    kernel = identifier(kernel, "kernel name")
    runtime = iface.max_seq_len is not None

    def size(p: Port) -> str:  # a C++ expression: a sequence port's codes scale with the run-time T
        return f"T * {p.size // p.shape[0]}" if runtime and p.sequence else str(p.size)

    lines = [
        "// Generated by lstmc: C-simulation testbench for the kernel.",
        *[
            f"// input {k}: {c_comment(p.name)} [{', '.join(map(str, p.shape))}], {c_comment(port_types[k])}"
            for k, p in enumerate(iface.inputs)
        ],
        *[
            f"// output {k}: {c_comment(p.name)} [{', '.join(map(str, p.shape))}], "
            f"{c_comment(port_types[len(iface.inputs) + k])}"
            for k, p in enumerate(iface.outputs)
        ],
        "#include <cstdint>",
        "#include <cstdio>",
        "#include <type_traits>",
        "#include <utility>",
        "#include <vector>",
        f'#include "{include_name(header)}"',
        "",
        "namespace lstmc_tb {",
        "",
        "// The type of parameter K of a function type: the kernel's port streams as its declaration has them.",
        "template <int K, class F> struct param;",
        "template <int K, class A, class... R> struct param<K, void(A, R...)> : param<K - 1, void(R...)> {};",
        "template <class A, class... R> struct param<0, void(A, R...)> {",
        "  typedef typename std::remove_reference<A>::type type;",
        "};",
        "",
        "// Closes its file on every return path; close() reports a failed flush of a written file.",
        "struct File {",
        "  std::FILE *f;",
        "  File(const char *path, const char *mode) : f(std::fopen(path, mode)) {}",
        "  ~File() { if (f) std::fclose(f); }",
        "  bool close() { std::FILE *g = f; f = nullptr; return g && std::fclose(g) == 0; }",
        "  File(const File &) = delete;",
        "  File &operator=(const File &) = delete;",
        "};",
        "",
        "// A port's AXI4-Stream beat: ap_axiu<W, 0, 0, 0> (Vitis's, or the kernel header's stand-in) or the twin's",
        "// lstmc_tb::axis<W> (when the header defines it). These accessors, chosen by overloading, are the only",
        "// code that differs; packing and the TLAST/TKEEP checks below are one for both builds.",
        "template <class S> struct beat_of {",
        "  typedef typename std::decay<decltype(std::declval<S &>().read())>::type type;",
        "};",
        "template <class B> static void put_field(B &b, int lo, int n, uint64_t v) { b.data.range(lo + n - 1, lo) = v; }",
        "template <class B> static uint64_t get_field(B &b, int lo, int n) { return b.data.range(lo + n - 1, lo).to_uint64(); }",
        "template <class B> static void set_byte(B &b, int k, bool on) { b.keep[k] = on; b.strb[k] = on; }",
        "template <class B> static bool keep_bit(B &b, int k) { return (bool)b.keep[k]; }",
        "template <class B> static bool strb_bit(B &b, int k) { return (bool)b.strb[k]; }",
        "template <class B> static void set_last(B &b, bool v) { b.last = v; }",
        "template <class B> static bool last_of(B &b) { return b.last == 1; }",
        "#ifdef LSTMC_CSIM_STREAM",
        "template <int W> static void put_field(axis<W> &b, int lo, int n, uint64_t v) { put_bits(b.data, lo, n, v); }",
        "template <int W> static uint64_t get_field(axis<W> &b, int lo, int n) { return get_bits(b.data, lo, n); }",
        "template <int W> static void set_byte(axis<W> &b, int k, bool on) {",
        "  put_bits(b.keep, k, 1, on);",
        "  put_bits(b.strb, k, 1, on);",
        "}",
        "template <int W> static bool keep_bit(axis<W> &b, int k) { return get_bits(b.keep, k, 1) == 1; }",
        "template <int W> static bool strb_bit(axis<W> &b, int k) { return get_bits(b.strb, k, 1) == 1; }",
        "template <int W> static void set_last(axis<W> &b, bool v) { b.last = v; }",
        "template <int W> static bool last_of(axis<W> &b) { return b.last; }",
        "#endif",
        "",
        "// n codes of b bits into beats of p codes (w data bits, little-endian: code i of a beat at bits",
        "// [i * b, (i + 1) * b)), the last beat zero-padded, TKEEP/TSTRB on the bytes holding codes, TLAST on the",
        "// last beat only: what a DMA sends for one inference.",
        "template <class S> static void send(S &s, const std::vector<int32_t> &codes, int n, int b, int p, int w) {",
        "  typedef typename beat_of<S>::type B;",
        "  for (int j = 0; j * p < n; j++) {",
        "    B beat = B();",
        "    int count = n - j * p < p ? n - j * p : p;",
        "    for (int i = 0; i < count; i++) put_field(beat, i * b, b, (uint64_t)(int64_t)codes[j * p + i]);",
        "    for (int k = 0; k < w / 8; k++) set_byte(beat, k, k < (count * b + 7) / 8);",
        "    set_last(beat, (j + 1) * p >= n);",
        "    s.write(beat);",
        "  }",
        "}",
        "",
        "// The n codes of an output port's beats, as send() frames them; false (after a FAIL line naming the port)",
        "// when the framing is wrong: a beat count other than ceil(n / p), TLAST missing on the last beat or set on",
        "// another (early, or repeated), TKEEP/TSTRB not the bytes holding codes, or padding that is not zero.",
        "template <class S>",
        "static bool receive(S &s, std::vector<int32_t> &codes, int n, int b, int p, int w, bool is_signed, int seq,",
        "                    const char *port) {",
        "  typedef typename beat_of<S>::type B;",
        "  int beats = (n + p - 1) / p, got = (int)s.size();",
        "  codes.resize(n);",
        "  for (int j = 0; j < got; j++) {",
        "    B beat = s.read();",
        "    bool last = last_of(beat);",
        "    if (j >= beats) {",
        '      std::fprintf(stderr, "FAIL: sequence %d: output %s: %s on beat %d, after its last beat %d (TLAST "',
        '                   "repeated)\\n", seq, port, last ? "TLAST" : "a beat", j, beats - 1);',
        "      return false;",
        "    }",
        "    if (last != (j == beats - 1)) {",
        "      if (last)",
        '        std::fprintf(stderr, "FAIL: sequence %d: output %s: TLAST on beat %d of %d (early)\\n", seq, port, j,',
        "                     beats);",
        "      else",
        '        std::fprintf(stderr, "FAIL: sequence %d: output %s: TLAST missing on its last beat %d\\n", seq, port,',
        "                     j);",
        "      return false;",
        "    }",
        "    int count = n - j * p < p ? n - j * p : p, bytes = (count * b + 7) / 8;",
        "    for (int k = 0; k < w / 8; k++)",
        "      if (keep_bit(beat, k) != (k < bytes) || strb_bit(beat, k) != (k < bytes)) {",
        '        std::fprintf(stderr, "FAIL: sequence %d: output %s: TKEEP/TSTRB of beat %d are not its first %d "',
        '                     "bytes\\n", seq, port, j, bytes);',
        "        return false;",
        "      }",
        "    for (int lo = count * b; lo < w; lo += 64)",
        "      if (get_field(beat, lo, w - lo < 64 ? w - lo : 64) != 0) {",
        '        std::fprintf(stderr, "FAIL: sequence %d: output %s: beat %d is not zero past its %d codes\\n", seq,',
        "                     port, j, count);",
        "        return false;",
        "      }",
        "    for (int i = 0; i < count; i++) {",
        "      uint64_t v = get_field(beat, i * b, b);",
        "      codes[j * p + i] = (int32_t)(is_signed ? (int64_t)(v << (64 - b)) >> (64 - b) : (int64_t)v);",
        "    }",
        "  }",
        "  if (got != beats) {",
        '    std::fprintf(stderr, "FAIL: sequence %d: output %s holds %d beats after the call, expected %d (%d codes, "',
        '                 "%d per beat)\\n", seq, port, got, beats, n, p);',
        "    return false;",
        "  }",
        "  return true;",
        "}",
        "",
        "// The next n codes of a file, read at once (a read per code was a tenth of a fast kernel's run).",
        "static bool read_codes(std::FILE *f, std::vector<int32_t> &codes, int n) {",
        "  codes.resize(n);",
        "  return std::fread(codes.data(), 4, codes.size(), f) == codes.size();",
        "}",
        "",
        "static int fail(const char *what, const char *path) {",
        '  std::fprintf(stderr, "FAIL: %s %s\\n", what, path);',
        "  return 2;",
        "}",
        "",
        "static int run(const char *in_path, const char *out_path, bool check) {",
        '  File in(in_path, "rb");',
        '  if (!in.f) return fail("cannot open", in_path);',
        '  File out(out_path, check ? "rb" : "wb");',
        '  if (!out.f) return fail("cannot open", out_path);',
        "  int32_t n = 0, n_out = 0;",
        '  if (std::fread(&n, 4, 1, in.f) != 1 || n < 0) return fail("cannot read the sequence count from", in_path);',
        "  if (check) {",
        '    if (std::fread(&n_out, 4, 1, out.f) != 1 || n_out != n) return fail("sequence count differs in", out_path);',
        "  } else if (std::fwrite(&n, 4, 1, out.f) != 1) {",
        '    return fail("cannot write", out_path);',
        "  }",
        "  long mismatches = 0;",
        "  std::vector<int32_t> codes, want;  // one port's codes of one sequence",
        "  for (int32_t s = 0; s < n; s++) {",
    ]
    if runtime:  # each sequence's own length, the kernel's seq_len argument
        n_max = iface.max_seq_len
        lines += [
            "    int32_t T = 0, T_out = 0;",
            '    if (std::fread(&T, 4, 1, in.f) != 1) return fail("truncated input file", in_path);',
            f"    if (T < 1 || T > {n_max}) {{",
            f"      std::fprintf(stderr, \"FAIL: sequence %d: sequence length %d is outside 1..{n_max} (the kernel's "
            f'--max-seq-len)\\n", s, T);',
            "      return 2;",
            "    }",
            "    if (check) {",
            '      if (std::fread(&T_out, 4, 1, out.f) != 1 || T_out != T) return fail("sequence length differs in", out_path);',
            "    } else if (std::fwrite(&T, 4, 1, out.f) != 1) {",
            '      return fail("cannot write", out_path);',
            "    }",
        ]
    args = []
    for k, p in enumerate(iface.inputs):
        lines.append(f"    param<{k}, ::lstmc_tb::{KERNEL_TYPE}>::type in{k};")
        lines.append(f'    if (!read_codes(in.f, codes, {size(p)})) return fail("truncated input file", in_path);')
        lines.append(f"    send(in{k}, codes, {size(p)}, {p.bits}, {p.codes_per_beat}, {p.beat_bits});")
        args.append(f"in{k}")
    for k, p in enumerate(iface.outputs):
        lines.append(f"    param<{len(iface.inputs) + k}, ::lstmc_tb::{KERNEL_TYPE}>::type out{k};")
        args.append(f"out{k}")
    if runtime:
        args.append("T")
    lines.append(f"    ::{kernel}({', '.join(args)});  // qualified: no local name can hide the kernel")
    for k, p in enumerate(iface.inputs):
        lines += [
            f"    if (!in{k}.empty()) {{",
            f'      std::fprintf(stderr, "FAIL: sequence %d: the kernel left %d beats of input %s unread\\n", s, '
            f"(int)in{k}.size(), {c_string(p.name)});",
            "      return 1;",
            "    }",
        ]
    for k, p in enumerate(iface.outputs):
        signed = "true" if p.signed else "false"
        lines += [
            f"    if (!receive(out{k}, codes, {size(p)}, {p.bits}, {p.codes_per_beat}, {p.beat_bits}, {signed}, s, "
            f"{c_string(p.name)}))",
            "      return 1;",
            "    if (check) {",
            f'      if (!read_codes(out.f, want, {size(p)})) return fail("truncated expected-output file", out_path);',
            f"      for (int e = 0; e < {size(p)}; e++)",
            "        if (codes[e] != want[e] && mismatches++ < 10)",
            f'          std::printf("sequence %d output %s[%d]: %d, expected %d\\n", s, {c_string(p.name)}, e, codes[e], '
            "want[e]);",
            "    } else if (std::fwrite(codes.data(), 4, codes.size(), out.f) != codes.size()) {",
            '      return fail("cannot write", out_path);',
            "    }",
        ]
    lines += [
        "  }",
        '  if (!check && !out.close()) return fail("cannot write", out_path);',
        '  if (check) std::printf("%s: %ld mismatching output codes over %d sequences\\n", mismatches ? "FAIL" : "PASS", mismatches, n);',
        "  return mismatches ? 1 : 0;",
        "}",
        "",
        "}  // namespace lstmc_tb",
        "",
        "int main(int argc, char **argv) {",
        "  if (argc == 3) return lstmc_tb::run(argv[1], argv[2], false);",
        '  return lstmc_tb::run("tb_input.bin", "tb_expected.bin", true);',
        "}",
    ]
    return "\n".join(lines) + "\n"


def port_types(hls_module: ModuleOp) -> list[str]:
    """C++ types of the codes on the top function's stream ports (the ap_int a beat's fields hold)."""
    from lstmc.dialects import hlscpp
    from lstmc.hls.emit import cpp_type
    from lstmc.ports import recorded_ports

    top = next(op for op in hls_module.ops if isinstance(op, hlscpp.FuncOp) and op.top is not None)
    ports = recorded_ports(top)
    if ports is None:
        raise LstmcError("the HLS-level module has no port record (lstmc.ports): lower it with qrnn-to-hlscpp")
    return [cpp_type(p.element_type) for p in ports]


def port_names(hls_module: ModuleOp) -> list[str]:
    """C++ names of the top function's stream ports (legalized identifiers), inputs then outputs."""
    from lstmc.dialects import hlscpp
    from lstmc.hls.emit import identifier

    top = next(op for op in hls_module.ops if isinstance(op, hlscpp.FuncOp) and op.top is not None)
    return [
        identifier(n.data, "port name")
        for a, n in zip(top.body.block.args, top.arg_names.data)
        if isinstance(a.type, hlscpp.StreamType)
    ]


_MD_LINE_BREAKS = {"\u0085", "\u2028", "\u2029"}
# Every character that can start Markdown syntax mid-line (code spans, emphasis, links and images, HTML tags and
# entities, table cells, strikethrough, math, headings, list markers): CommonMark lets each be backslash-escaped.
_MD_SPECIAL = set("\\`*_{}[]()<>#+-!|~&$")


def md_text(text: str, limit: int = 200) -> str:
    """Untrusted text (a model's names, a path) as literal Markdown text, on one line and inside a table cell:
    Markdown's special characters backslash-escaped (no code span, emphasis, link, HTML tag or table pipe can
    form) and every character that is not printable (newlines, escapes, bidirectional overrides) shown as its
    code point. Longer text is cut at `limit` characters and marked."""
    out = []
    for ch in text[:limit]:
        if ch in _MD_SPECIAL:
            out.append("\\" + ch)
        elif ch.isprintable() and ch not in _MD_LINE_BREAKS:
            out.append(ch)
        else:
            out.append(f"U+{ord(ch):04X}")
    return "".join(out) + (" \\(cut\\)" if len(text) > limit else "")


def _numbers(values, axis) -> str:
    shown = [f"{float(v):.9g}" for v in values]
    if len(shown) == 1:
        return shown[0]
    return f"per channel (axis {axis}): " + ", ".join(shown)


def project_readme(
    kernel: str, iface: KernelInterface, hls_module: ModuleOp, part: str, clock_ns: float, source: str, files: list[str]
) -> str:
    """README.md of a project directory: how to build it, the kernel's ports in order (shape, element type and
    what a code means), the part and clock, and the files. Names from the model and the source path are
    untrusted text: escaped with md_text; C++ names are legalized identifiers."""
    from lstmc.hls.emit import identifier
    from lstmc.parts import check_clock_ns, resolve_part
    from lstmc.ports import SEQ_LEN_PORT

    kernel = identifier(kernel, "kernel name")
    chosen = resolve_part(part)
    clock_ns = check_clock_ns(clock_ns)
    names = port_names(hls_module)
    types = port_types(hls_module)
    if len(names) != len(iface.inputs) + len(iface.outputs):
        raise LstmcError("internal error: the kernel's ports and the model's inputs and outputs differ in number")
    rows = []
    for k, (p, direction) in enumerate([(p, "in") for p in iface.inputs] + [(p, "out") for p in iface.outputs]):
        q = quant_params(p.quant)
        zp = [int(z) for z in q.zero_point]
        codes = (
            f"{q.qmin - zp[0]} .. {q.qmax - zp[0]}"
            if len(set(zp)) == 1
            else f"{q.qmin} .. {q.qmax} minus the zero point"
        )
        timed = p.sequence and iface.max_seq_len
        dims = [("T" if (i == 0 and timed) else str(d)) for i, d in enumerate(p.shape)]
        per_row = p.size // p.shape[0] if p.shape else 1
        beats = f"ceil({per_row} T / {p.codes_per_beat})" if timed else str(p.beats_at(None))
        packing = f"{p.beat_bits} bits, {p.codes_per_beat} code{'s' if p.codes_per_beat > 1 else ''}; {beats} beats"
        rows.append(
            f"| {k} | {direction} | `{names[k]}` | {md_text(p.name)} | [{', '.join(dims)}] "
            f"| `{types[k]}` | {codes} | {_numbers(q.scale, q.axis)} | {_numbers(zp, q.axis)} | {packing} |"
        )
    described = {
        f"{kernel}.cpp": "the kernel (synthesized by Vitis HLS; a native-integer twin after `#else` for C simulation)",
        f"{kernel}.h": "its prototype",
        f"{kernel}_tb.cpp": "the testbench: runs every golden sequence and compares every output code",
        "tb_input.bin": "golden input codes (int32: the sequence count, then each sequence's codes, ports in order"
        + (", each sequence led by its length T)" if iface.max_seq_len else ")"),
        "tb_expected.bin": "the expected output codes, in the same format",
        "golden.npz": "the golden inputs and outputs as float arrays (`input_<name>`, `output_<name>`)",
        "run_hls.tcl": "the Vitis HLS script",
        "report.json": "the QoR estimate (cycles, LUT/FF/BRAM18/DSP per unit) on this part and clock, and the ports' packing",
        "README.md": "this file",
        ".lstmc-build": "the manifest of the files lstmc wrote (a later `lstmc compile -o` may replace only these)",
    }
    file_lines = []
    for f in files:
        what = described.get(f) or ("the IR after each stage (lstmc-opt can read it)" if f.startswith("ir/") else "")
        file_lines.append(f"- `{f}`" + (f": {what}" if what else ""))
    board = f" (board {chosen.board})" if chosen.board else ""
    lines = [
        f"# {kernel}: a Vitis HLS project written by lstmc",
        "",
        f"Model: {md_text(source) if source else 'an in-memory model'}. "
        f"Part: `{chosen.name}`{board}. Clock: {clock_ns:g} ns ({1000.0 / clock_ns:g} MHz).",
        "",
        "## Building",
        "",
        "Needs Vitis HLS 2022.1 or later (the pragmas use the `mode=`/`type=` syntax introduced there).",
        "",
        "```sh",
        "vitis_hls -f run_hls.tcl",
        "```",
        "",
        "run in this directory creates the Vitis project `" + kernel + "_prj` and runs C simulation (the testbench "
        "against the golden vectors: it prints PASS and exits 0), synthesis, C/RTL co-simulation and the export "
        "of an IP catalog core. Edit the `*_design` lines of `run_hls.tcl` to run fewer steps.",
        "",
        "C simulation without Vitis, with g++: the kernel's native-integer twin, which computes the same bits (a "
        "kernel without one needs `-I<ap_types>`); with `-DLSTMC_CSIM_AP_TYPES` and any copy of the Xilinx "
        "`ap_int.h`/`hls_stream.h` headers (the hls4ml package ships them under "
        "`hls4ml/templates/vivado/ap_types`), the ap_int kernel itself, as Vitis simulates it:",
        "",
        "```sh",
        f"g++ -std=c++14 -O2 {kernel}.cpp {kernel}_tb.cpp -o tb && ./tb",
        f"g++ -std=c++14 -O2 -DLSTMC_CSIM_AP_TYPES -I<ap_types> {kernel}.cpp {kernel}_tb.cpp -o tb && ./tb",
        "```",
        "",
        "## Ports",
        "",
        f"`void {kernel}(...)` processes one sequence per call. Every port is an AXI4-Stream with TLAST, "
        "`hls::stream<ap_axiu<W, 0, 0, 0>>` (TDATA, TKEEP, TSTRB, TLAST; `#pragma HLS INTERFACE mode=axis`), "
        "carrying its codes row-major; the kernel reads all of its inputs and writes all of its outputs, in this "
        "order (beat: TDATA width W, codes per beat P, beats per call):",
        "",
        "| # | dir | C++ port | model name | shape | element type | codes | scale | zero point | beat |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Packing (`lstmc compile --axis-bits W`; by default one code per beat, W its width rounded up to bytes): "
        "a beat holds P codes of b bits little-endian, code i of the beat at TDATA bits [i*b, (i+1)*b); the last "
        "beat of a call may hold fewer and is zero-padded. TKEEP and TSTRB mark the bytes that hold codes, and "
        "TLAST is set on the last beat of each port's data for one call, and only there"
        + (" (the beat count follows `seq_len` on the ports whose shape starts with T)" if iface.max_seq_len else "")
        + ". To drive the kernel from an AXI DMA (Vivado block design): connect each input port to an MM2S "
        "channel and each output port to an S2MM channel of that width (the IP's port names are the C++ names "
        "above), start the kernel through its `ap_ctrl_chain` block-level handshake (ap_start, ap_ready, "
        "ap_done, ap_continue: the next call may start before this one is done), then send each input as one transfer of its beats (the DMA sets "
        "TLAST at the end of the transfer) and receive each output as one transfer, which ends at the kernel's "
        "TLAST. The kernel reads exactly its input beats and does not look at their TLAST. AXI DMA honours TKEEP "
        "only on a packet's last beat: pick W so that P*b fills every byte of a full beat (e.g. a multiple of "
        "8*b), or let the host skip the empty bytes. The testbench packs "
        "and checks beats the same way (it fails, naming the port, on a missing, early or repeated TLAST).",
        "",
        *(
            [
                f"`int {SEQ_LEN_PORT}` (AXI-Lite, `s_axilite`): the sequence length T of this call, 1 to "
                f"{iface.max_seq_len} (the `--max-seq-len` the buffers are sized for; a larger value would index past them, "
                "so the host must not send one). The ports whose shape starts with T carry T rows per call; the "
                "testbench passes each golden sequence's own T.",
                "",
            ]
            if iface.max_seq_len
            else []
        ),
        "A code on a stream is the model's quantized value q minus its zero point (zp), so it means the real "
        "value (q - zp) * scale = code * scale. To feed the kernel, quantize as the model's input quantizer does, "
        "q = clamp(round(x / scale) + zp) with its rounding (half to even for QuantizeLinear), and send q - zp; read an output code c as c * scale. A per-channel "
        "scale or zero point applies along the axis given.",
        "",
        "## Files",
        "",
        *file_lines,
        "",
    ]
    return "\n".join(lines)


def tcl_script(kernel: str, part: str, clock_ns: float) -> str:
    """Vitis HLS project script: C simulation, synthesis, co-simulation and IP export. Every value is checked
    (an identifier, a known part, a finite clock) and braced, so nothing in it can be TCL code."""
    from lstmc.hls.emit import identifier
    from lstmc.parts import check_clock_ns, resolve_part

    kernel = identifier(kernel, "kernel name")
    part = resolve_part(part).name
    clock_ns = check_clock_ns(clock_ns)
    lines = [
        "# Generated by lstmc. Run with: vitis_hls -f run_hls.tcl (Vitis HLS 2022.1 or later: pragmas use mode=/type=)",
        f"open_project -reset {{{kernel}_prj}}",
        f"set_top {{{kernel}}}",
        # Vitis csim must simulate the ap_int kernel it synthesizes, not the native-integer twin that
        # lstmc's own fast C-simulation builds (lstmc/hls/emit.py); the testbench sees the same prototype
        f"add_files {{{kernel}.cpp}} -cflags {{-DLSTMC_CSIM_AP_TYPES}}",
        f"add_files -tb {{{kernel}_tb.cpp}} -cflags {{-DLSTMC_CSIM_AP_TYPES}}",
        "add_files -tb {tb_input.bin}",
        "add_files -tb {tb_expected.bin}",
        "open_solution -reset solution1 -flow_target vivado",
        f"set_part {{{part}}}",
        f"create_clock -period {clock_ns:g} -name default",
        "csim_design",
        "csynth_design",
        "cosim_design",
        "export_design -format ip_catalog",
        "exit",
    ]
    return "\n".join(lines) + "\n"


def ap_types_dir() -> Path:
    """The Xilinx arbitrary-precision headers shipped inside the installed hls4ml wheel."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise LstmcError("C-simulation needs the hls4ml package for ap_int.h/hls_stream.h (pip install hls4ml)")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_int.h").exists():
        raise LstmcError(f"ap_int.h not found under {path}")
    return path
