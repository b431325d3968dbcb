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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from lstmc import project_dir
from lstmc.errors import LstmcError

MARKER = project_dir.MARKER  # the manifest of the files a compile wrote (see lstmc/project_dir.py)


@dataclass
class CompileOptions:
    kernel: str = "lstmc_kernel"
    part: str = "xczu7ev-ffvc1156-2-e"
    clock_ns: float = 5.0
    pe: int = 0
    simd: int = 0
    folding: str = ""  # JSON config path
    target_cycles: int = 0
    act_impl: str = "threshold"
    golden_inputs: dict[str, np.ndarray] | None = None
    golden_count: int = 8
    seed: int = 0
    extra: dict = field(default_factory=dict)

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
            act_impl=self.act_impl, pe=self.pe, simd=self.simd,
            config=os.path.abspath(self.folding) if self.folding else "",
            target_cycles=self.target_cycles, kernel=self.kernel)

    def check(self) -> None:
        """Options that end up in the C++ and TCL: refused here, before any work, with the option's name."""
        from lstmc.parts import check_clock_ns, resolve_part
        from lstmc.passes.hlscpp_prepare_emission import is_cpp_identifier

        reason = is_cpp_identifier(self.kernel)
        if reason:
            raise LstmcError(f"--kernel-name {self.kernel!r} is not usable as a C++ function name: {reason}")
        self.part = resolve_part(self.part).name
        self.clock_ns = check_clock_ns(self.clock_ns)


def _check_target(out_dir: Path) -> None:
    """Fail before the expensive work if -o is unsafe (cwd, home, a directory lstmc did not write, ...)."""
    project_dir.check_target(out_dir, "-o")


def compile_model(model: onnx.ModelProto, out_dir: Path, options: CompileOptions, source: str = "") -> dict:
    from lstmc.frontend.onnx_import import import_model
    from lstmc.hls import project
    from lstmc.hls.build import write_sources
    from lstmc.interpreter import run_function
    from lstmc.pipeline import apply_pipeline

    out_dir = Path(out_dir)
    _check_target(out_dir)
    options.check()
    kernel = options.kernel
    module = import_model(model)
    stage_ir: dict[str, str] = {}
    stages = options.stage_pipelines()
    for stage, passes in stages[:-1]:  # through dataflow, the level the interpreter and QoR model read
        apply_pipeline(module, passes)
        stage_ir[stage] = str(module)
    iface = project.kernel_interface(module)
    golden = options.golden_inputs
    if golden is None:
        rng = np.random.default_rng(options.seed)
        golden = {p.name: rng.standard_normal((options.golden_count, *p.shape)).astype(np.float32) for p in iface.inputs}
    expected = run_function(module, golden)  # integer/dataflow interpreter: the golden model
    hls = apply_pipeline(module.clone(), stages[-1][1])
    stage_ir["hlscpp"] = str(hls)
    report = _report(module, options, source)

    golden_npz = {**{f"input_{k}": v for k, v in golden.items()}, **{f"output_{k}": v for k, v in expected.items()}}
    project_dir.check_npz_keys(golden_npz, "golden.npz entry")

    def fill(tmp: Path) -> None:
        write_sources(hls, iface, tmp, kernel)
        project.write_codes(tmp / "tb_input.bin", iface.quantize_inputs(golden))
        project.write_codes(tmp / "tb_expected.bin", _codes_of(iface, expected))
        (tmp / "run_hls.tcl").write_text(project.tcl_script(kernel, options.part, options.clock_ns))
        ir_dir = tmp / "ir"
        ir_dir.mkdir()
        for i, (stage, text) in enumerate(stage_ir.items()):
            (ir_dir / f"{i}-{stage}.mlir").write_text(text + "\n")
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        np.savez(tmp / "golden.npz", **golden_npz)
        # last, so it lists every file (itself and the manifest written after `fill` included)
        written = sorted((p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file()),
                         key=lambda f: (f.count("/"), f))
        (tmp / "README.md").write_text(project.project_readme(
            kernel, iface, hls, options.part, options.clock_ns, source, written + ["README.md", MARKER]))

    # Parents are created, the project built in a hidden sibling and swapped in only now, after every check
    # passed: a failed or interrupted compile leaves nothing behind (lstmc/project_dir.py).
    warning = project_dir.write_project(out_dir, fill, source=source, option="-o")
    if warning:
        print(f"lstmc: warning: {warning}", file=sys.stderr)
    return report


def _codes_of(iface, expected: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Output codes of the golden outputs: the dequantized values divided back exactly (fl32(c * s) / s is
    within 2^-24 relative of c, so rounding recovers c; checked). Not through the port's quantizer: a port
    may carry the concatenation of codes from quantizers with different zero points, whose union range is
    wider than any one of them."""
    from lstmc import numerics
    from lstmc.hls import project
    from lstmc.numerics import quant_params

    codes = []
    for p in iface.outputs:
        q = quant_params(p.quant)
        value = np.asarray(expected[p.name], np.float32)
        s = numerics.channel_values(q.scale, q.axis, value.ndim, np.float64, batched=True)
        c = np.rint(value.astype(np.float64) / s).astype(np.int64)
        if not np.array_equal(project.dequantize_port(p, c.reshape(c.shape[0], -1)), value):
            raise LstmcError(f"internal error: output '{p.name}' does not round-trip through its codes")
        codes.append(c.reshape(c.shape[0], -1))
    return codes


def _report(module, options: CompileOptions, source: str) -> dict:
    report = {"model": source, "kernel": options.kernel, "part": options.part, "clock_ns": options.clock_ns}
    try:
        from lstmc import qor
    except ImportError:
        return report
    part = qor.PARTS[options.part]
    report["estimate"] = qor.estimate_module(module, part=part, clock_mhz=1000.0 / options.clock_ns).to_dict()
    return report
