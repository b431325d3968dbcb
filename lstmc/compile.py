"""`lstmc compile`: ONNX model -> a Vitis HLS project directory.

The directory holds the kernel (.cpp/.h), a testbench with golden vectors from the integer interpreter,
run_hls.tcl (csim, csynth, cosim, IP export), the IR after each stage, report.json (QoR estimates on the chosen
part and clock) and README.md (how to build it, the ports and what their codes mean).
It is built in a temporary sibling directory and renamed into place at the end, so a failure never leaves
a half-written design; an existing directory is only replaced if an earlier `lstmc compile` made it and nobody
changed it since (its manifest, lstmc/project_dir.py).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx

from lstmc import project_dir
from lstmc.errors import LstmcError
from lstmc.parts import DEFAULT_CLOCK_NS, DEFAULT_PART
from lstmc.ports import mark_axis_bits

MARKER = project_dir.MARKER  # the manifest of the files a compile wrote (see lstmc/project_dir.py)


@dataclass
class CompileOptions:
    kernel: str = "lstmc_kernel"
    part: str = DEFAULT_PART.name
    clock_ns: float = DEFAULT_CLOCK_NS
    pe: int = 0
    simd: int = 0
    folding: str = ""  # JSON config path
    target_cycles: int = 0
    act_impl: str = "auto"
    threshold_input: str = "accumulator"
    golden_inputs: dict[str, np.ndarray] | None = None
    golden_count: int = 8
    seed: int = 0
    max_seq_len: int | None = None  # the kernel takes T at run time, up to this (a model with a symbolic T)
    axis_bits: int = 0  # TDATA bits of every port, several codes per beat (`--axis-bits`); 0: one code per beat

    def stage_pipelines(self) -> list[tuple[str, list]]:
        """(stage name, pass objects reaching it from the previous stage), sliced from the one `lstm-to-hls`
        list; the IR is saved after each. Options go in as dataclass fields, never as `-p` text."""
        from lstmc.passes.lstm_to_hls import pipeline_stages

        modes = [bool(self.pe or self.simd), bool(self.folding), bool(self.target_cycles)]
        if sum(modes) > 1:
            raise LstmcError("choose one folding mode: --pe/--simd, --folding F.json or --target-cycles N")
        if self.folding and not os.path.isfile(self.folding):
            raise LstmcError(f"--folding {self.folding}: no such folding config file")
        return [("qrnn", [])] + pipeline_stages(
            act_impl=self.act_impl,
            threshold_input=self.threshold_input,
            pe=self.pe,
            simd=self.simd,
            config=os.path.abspath(self.folding) if self.folding else "",
            target_cycles=self.target_cycles,
            kernel=self.kernel,
        )

    def check(self) -> None:
        """Options that end up in the C++ and TCL: refused here, before any work, with the option's name."""
        from lstmc.parts import check_clock_ns, resolve_part
        from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier
        from lstmc.ports import check_axis_bits

        reason = is_cpp_identifier(self.kernel)
        if reason:
            raise LstmcError(f"--kernel-name {self.kernel!r} is not usable as a C++ function name: {reason}")
        if self.axis_bits != 0:
            check_axis_bits(self.axis_bits, "--axis-bits", LstmcError)
        self.part = resolve_part(self.part).name
        self.clock_ns = check_clock_ns(self.clock_ns)


def _check_target(out_dir: Path) -> None:
    """Fail before the expensive work if -o is unsafe (cwd, home, a directory lstmc did not write, ...)."""
    project_dir.check_target(out_dir, "-o")


def run_time_length_model(model: onnx.ModelProto, max_seq_len: int) -> tuple[onnx.ModelProto, int | None]:
    """(the model bound at T = max_seq_len, max_seq_len) for a model with a symbolic sequence length; a model
    whose T is fixed gives (itself, None) when T equals max_seq_len and an error otherwise."""
    from lstmc.frontend import bind_sequence_length

    if not isinstance(max_seq_len, int) or isinstance(max_seq_len, bool) or max_seq_len < 1:
        raise LstmcError(f"--max-seq-len must be a positive integer, got {max_seq_len!r}")
    bound = bind_sequence_length(model, max_seq_len, option="--max-seq-len")
    if bound is not model:
        return bound, max_seq_len
    from lstmc.dialects import qrnn
    from lstmc.frontend.onnx_import import import_model

    lengths = {op.seq_len for op in import_model(model).walk() if isinstance(op, qrnn.RecurrenceOp)}
    if lengths == {max_seq_len}:
        return model, None
    raise LstmcError(
        f"--max-seq-len {max_seq_len}: the model's sequence length is fixed "
        f"({', '.join(map(str, sorted(lengths))) or 'no recurrence'}); --max-seq-len needs a symbolic one"
    )


def mark_run_time_length(module, max_seq_len: int) -> None:
    """Tell qrnn-to-hlscpp that the module, imported at T = max_seq_len, takes T at run time."""
    from xdsl.dialects.builtin import IntegerAttr, i64

    from lstmc.entry import entry_function
    from lstmc.ports import MAX_SEQ_LEN

    entry_function(module).attributes[MAX_SEQ_LEN] = IntegerAttr(max_seq_len, i64)


def compile_model(model: onnx.ModelProto, out_dir: Path, options: CompileOptions, source: str = "") -> dict:
    """With options.max_seq_len, `model` is the unbound model (symbolic T): the kernel is built at T = N and
    its golden vectors are interpreted at their own T."""
    from lstmc.frontend.onnx_import import import_model
    from lstmc.hls import project
    from lstmc.hls.build import write_sources
    from lstmc.interpreter import run_function
    from lstmc.pipeline import apply_pipeline

    out_dir = Path(out_dir)
    _check_target(out_dir)
    options.check()
    kernel = options.kernel
    unbound, max_seq_len = model, None
    if options.max_seq_len is not None:
        model, max_seq_len = run_time_length_model(model, options.max_seq_len)
    module = import_model(model)
    if max_seq_len is not None:
        mark_run_time_length(module, max_seq_len)
    mark_axis_bits(module, options.axis_bits)
    stage_ir: dict[str, str] = {}
    stages = options.stage_pipelines()
    for stage, passes in stages[:-1]:  # through dataflow, the level the interpreter and QoR model read
        apply_pipeline(module, passes)
        stage_ir[stage] = str(module)
    iface = project.kernel_interface(module)
    golden = options.golden_inputs
    if golden is None:
        rng = np.random.default_rng(options.seed)
        golden = {
            p.name: rng.standard_normal((options.golden_count, *p.shape)).astype(np.float32) for p in iface.inputs
        }
    seq_len = iface.seq_len_of(golden)
    golden_module = module
    if seq_len is not None and seq_len != max_seq_len:  # the interpreter runs the design specialised to their T
        from lstmc.frontend import bind_sequence_length

        golden_module = import_model(bind_sequence_length(unbound, seq_len))
        for _, passes in stages[:-1]:
            apply_pipeline(golden_module, passes)
    expected = run_function(golden_module, golden)  # integer/dataflow interpreter: the golden model
    hls = apply_pipeline(module.clone(), stages[-1][1])
    stage_ir["hlscpp"] = str(hls)
    report = _report(module, options, source, seq_len)

    golden_npz = {**{f"input_{k}": v for k, v in golden.items()}, **{f"output_{k}": v for k, v in expected.items()}}
    project_dir.check_npz_keys(golden_npz, "golden.npz entry")

    def fill(tmp: Path) -> None:
        write_sources(hls, iface, tmp, kernel)
        project.write_codes(tmp / "tb_input.bin", iface.quantize_inputs(golden), seq_len)
        project.write_codes(tmp / "tb_expected.bin", _codes_of(iface, expected, seq_len), seq_len)
        (tmp / "run_hls.tcl").write_text(project.tcl_script(kernel, options.part, options.clock_ns))
        ir_dir = tmp / "ir"
        ir_dir.mkdir()
        for i, (stage, text) in enumerate(stage_ir.items()):
            (ir_dir / f"{i}-{stage}.mlir").write_text(text + "\n")
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        np.savez(tmp / "golden.npz", **golden_npz)
        # last, so it lists every file (itself and the manifest written after `fill` included)
        written = sorted(
            (p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()), key=lambda f: (f.count("/"), f)
        )
        (tmp / "README.md").write_text(
            project.project_readme(
                kernel, iface, hls, options.part, options.clock_ns, source, written + ["README.md", MARKER]
            )
        )

    # Parents are created, the project built in a hidden sibling and swapped in only now, after every check
    # passed: a failed or interrupted compile leaves nothing behind (lstmc/project_dir.py).
    warning = project_dir.write_project(out_dir, fill, source=source, option="-o")
    if warning:
        print(f"lstmc: warning: {warning}", file=sys.stderr)
    return report


def _codes_of(iface, expected: dict[str, np.ndarray], seq_len: int | None = None) -> list[np.ndarray]:
    """Output codes of the golden outputs: the dequantized values divided back exactly (numerics.codes_of_values;
    checked), not through the port's quantizer (a port may carry codes of quantizers with different zero
    points)."""
    from lstmc import numerics
    from lstmc.hls import project

    codes = []
    for p in iface.outputs:
        value = np.asarray(expected[p.name], np.float32)
        c = numerics.codes_of_values(value, numerics.quant_params(p.quant), batched=True)
        if not np.array_equal(project.dequantize_port(p, c.reshape(c.shape[0], -1), seq_len), value):
            raise LstmcError(f"internal error: output '{p.name}' does not round-trip through its codes")
        codes.append(c.reshape(c.shape[0], -1))
    return codes


def _report(module, options: CompileOptions, source: str, seq_len: int | None = None) -> dict:
    """report.json; a run-time-length kernel's estimate also gives its per-step cycles and its latency at the
    golden vectors' T and at --max-seq-len (qor.Report.run_time_length)."""
    from lstmc.entry import entry_function
    from lstmc.hls import project
    from lstmc.ports import max_seq_len_of

    report = {"model": source, "kernel": options.kernel, "part": options.part, "clock_ns": options.clock_ns}
    max_seq_len = max_seq_len_of(entry_function(module))
    if max_seq_len is not None:
        report["max_seq_len"] = max_seq_len
    iface = project.kernel_interface(module)  # the AXI4-Stream ports, as the testbench drives them
    report["ports"] = [
        {
            "name": p.name,
            "direction": direction,
            "shape": list(p.shape),
            "code_bits": p.bits,
            "signed": p.signed,
            "tdata_bits": p.beat_bits,
            "codes_per_beat": p.codes_per_beat,
            "beats": p.beats_at(None),
        }
        for direction, ports in (("in", iface.inputs), ("out", iface.outputs))
        for p in ports
    ]
    from lstmc import qor
    from lstmc.chain_sim import simulate_report

    part = qor.PARTS[options.part]
    estimate = qor.estimate_module(module, part=part, clock_mhz=1000.0 / options.clock_ns)
    estimate.max_seq_len = max_seq_len
    simulate_report(module, estimate)
    report["estimate"] = estimate.to_dict()
    if max_seq_len is not None and seq_len is not None:
        report["estimate"]["run_time_length"] = estimate.run_time_length([seq_len])
    return report
