"""From the dataflow-level module to C++ sources on disk, and the `csim` execution stage."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from lstmc.errors import LstmcError
from lstmc.hls import project
from lstmc.hls.csim import compile_csim
from lstmc.hls.emit import KERNEL_INCLUDES, native_twin_blocker
from lstmc.pipeline import apply_pipeline

# -O2: the kernel's native-integer twin (lstmc/hls/emit.py) simulates ~2x faster than at csim.DEFAULT_FLAGS' -O1
# and builds in about the same time. -fvect-cost-model=dynamic (-O3's cost model, without the rest of -O3):
# GCC 12's -O2 model vectorizes no loop that needs an epilogue, e.g. the twin's MVAU dot products over 40
# columns. No -march: the binary runs on any x86-64 (baseline SSE2), so the cache key stays machine-neutral.
CSIM_FLAGS = ("-std=c++14", "-O2", "-fvect-cost-model=dynamic", "-w")


def lower_to_hlscpp(dataflow_module: ModuleOp, kernel: str) -> ModuleOp:
    """A copy of the module converted to hlscpp (the input is left untouched): the dataflow -> hlscpp slice of
    the one pass list (passes/lstm_to_hls.py)."""
    from lstmc.passes.lstm_to_hls import passes_between

    hls = dataflow_module.clone()
    apply_pipeline(hls, passes_between("dataflow", "hlscpp", kernel=kernel))
    return hls


def top_function_name(hls: ModuleOp) -> str:
    """The (legalized) name of the kernel's top function."""
    from lstmc.dialects import hlscpp

    return next(op.sym_name.data for op in hls.ops if isinstance(op, hlscpp.FuncOp) and op.top is not None)


def write_sources(hls: ModuleOp, iface: project.KernelInterface, directory: Path, kernel: str) -> list[Path]:
    """kernel .cpp/.h and the testbench; returns the written paths."""
    from io import StringIO

    from lstmc.hls.emit import emit_header, emit_hls_cpp

    top = top_function_name(hls)
    if top != kernel:  # compile checks --kernel-name, so prepare-emission has nothing to rename
        raise LstmcError(f"--kernel-name '{kernel}' is not a legal C++ identifier (it would be emitted as '{top}')")
    header, source, tb = directory / f"{kernel}.h", directory / f"{kernel}.cpp", directory / f"{kernel}_tb.cpp"
    # render everything before writing anything, so an emission error leaves no partial sources
    buf = StringIO()
    emit_header(hls, buf, guard=f"LSTMC_{kernel.upper()}_H")
    header_text = buf.getvalue()
    buf = StringIO()
    emit_hls_cpp(hls, buf, header=header.name)
    source_text = buf.getvalue()
    tb_text = project.testbench_source(kernel, iface, header.name, project.port_types(hls))
    header.write_text(header_text)
    source.write_text(source_text)
    tb.write_text(tb_text)
    return [source, header, tb]


def run_csim_on_codes(
    binary: Path, iface: project.KernelInterface, codes: list[np.ndarray], seq_len: int | None = None
) -> list[np.ndarray]:
    """Run the testbench binary on input codes; a run-time-length kernel (iface.max_seq_len) on sequences of
    `seq_len` steps (checked here and again by the testbench)."""
    if (seq_len is None) != (iface.max_seq_len is None):
        raise LstmcError("internal error: a run-time sequence length goes with a kernel that takes one")
    if seq_len is not None:
        assert iface.max_seq_len is not None  # checked just above
        project.check_seq_len(seq_len, iface.max_seq_len)
    with tempfile.TemporaryDirectory(prefix="lstmc-csim-") as tmp:
        inp, out = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        project.write_codes(inp, codes, seq_len)
        proc = subprocess.run([str(binary), str(inp), str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise LstmcError(
                f"the C-simulation binary failed (status {proc.returncode}): {proc.stderr.strip()[-2000:]}"
            )
        return project.read_codes(out, [p.size_at(seq_len) for p in iface.outputs], seq_len)


def build_csim(dataflow_module: ModuleOp, iface: project.KernelInterface, kernel: str = "lstmc_kernel") -> Path:
    """Lower, emit and g++ the kernel with its testbench in one translation unit: a verified binary from the
    per-user cache (lstmc/hls/csim.py). The native-integer twin includes no Xilinx header; a kernel without
    one (native_twin_blocker) gets the ap_int/hls_stream headers precompiled once per compiler."""
    hls = lower_to_hlscpp(dataflow_module, kernel)
    pch = () if native_twin_blocker(hls) is None else KERNEL_INCLUDES
    with tempfile.TemporaryDirectory(prefix="lstmc-src-") as tmp:
        write_sources(hls, iface, Path(tmp), kernel)
        return compile_csim(Path(tmp), kernel, flags=CSIM_FLAGS, pch_headers=pch, unity=True)


def csim_stage(
    dataflow_module: ModuleOp, inputs: dict[str, np.ndarray], kernel: str = "lstmc_kernel"
) -> dict[str, np.ndarray]:
    """Emit the kernel, compile it with its testbench (g++, hls4ml's ap_types headers) and run it. A kernel that
    takes T at run time (`lstmc.max_seq_len` on the module) runs inputs of any length 1..N, one length per
    call: the binary is the same for every T (and cached)."""
    iface = project.kernel_interface(dataflow_module)
    missing = [p.name for p in iface.inputs if p.name not in inputs]
    if missing:
        raise LstmcError(f"missing input(s) {', '.join(missing)}")
    batched = {p.name: np.asarray(inputs[p.name], np.float32) for p in iface.inputs}
    single = all(batched[p.name].ndim == len(p.shape) for p in iface.inputs)
    if single:
        batched = {k: v[None] for k, v in batched.items()}
    seq_len = None
    if iface.max_seq_len is not None:
        seq_len = iface.seq_len_of({k: v for k, v in batched.items() if v.ndim > 1})
    for p in iface.inputs:
        want = p.shape_at(seq_len)
        if batched[p.name].shape[1:] != want:
            raise LstmcError(
                f"input '{p.name}' has shape {list(batched[p.name].shape)}; expected [N, {', '.join(map(str, want))}]"
            )
    binary = build_csim(dataflow_module, iface, kernel)
    codes = run_csim_on_codes(binary, iface, iface.quantize_inputs(batched), seq_len)
    out = iface.dequantize_outputs(codes, seq_len)
    return {k: v[0] for k, v in out.items()} if single else out
