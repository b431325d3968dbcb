"""`lstmc compile`: ONNX model -> a Vitis HLS project directory.

The directory holds the kernel (.cpp/.h), a testbench with golden vectors from the integer interpreter,
run_hls.tcl (csim, csynth, cosim, IP export), the IR after each stage and report.json (QoR estimates).
It is built in a temporary sibling directory and renamed into place at the end, so a failure never leaves
a half-written design; an existing directory is only replaced if an earlier `lstmc compile` made it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from lstmc.errors import LstmcError

MARKER = ".lstmc-build"


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

    def folding_spec(self) -> str:
        modes = [bool(self.pe or self.simd), bool(self.folding), bool(self.target_cycles)]
        if sum(modes) > 1:
            raise LstmcError("choose one folding mode: --pe/--simd, --folding F.json or --target-cycles N")
        if self.folding:
            if not os.path.exists(self.folding):
                raise LstmcError(f"{self.folding}: no such folding config")
            return f'qrnn-set-folding{{config="{os.path.abspath(self.folding)}"}}'
        if self.target_cycles:
            return f"qrnn-set-folding{{target-cycles={self.target_cycles}}}"
        if self.pe or self.simd:
            return f"qrnn-set-folding{{pe={self.pe} simd={self.simd}}}"
        return ""


def stage_pipelines(options: CompileOptions) -> list[tuple[str, list[str]]]:
    """(stage name, passes reaching it from the previous stage); the IR is saved after each."""
    folding = options.folding_spec()
    return [
        ("qrnn", []),
        ("integer", ["qrnn-canonicalize", "qrnn-fold-constants", f"qrnn-legalize-precision{{act-impl={options.act_impl}}}"]),
        ("dataflow", ["qrnn-to-dataflow"] + ([folding] if folding else [])),
    ]


def _check_target(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise LstmcError(f"{out_dir} exists and is not a directory")
        if any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
            raise LstmcError(f"{out_dir} is not empty and was not written by lstmc compile; choose another -o")


def compile_model(model: onnx.ModelProto, out_dir: Path, options: CompileOptions, source: str = "") -> dict:
    from lstmc.frontend.onnx_import import import_model
    from lstmc.hls import project
    from lstmc.hls.build import lower_to_hlscpp, write_sources
    from lstmc.interpreter import run_function
    from lstmc.pipeline import apply_pipeline

    out_dir = Path(out_dir)
    _check_target(out_dir)
    kernel = options.kernel
    if not kernel.isidentifier():
        raise LstmcError(f"--kernel-name '{kernel}' is not a C++ identifier")
    module = import_model(model)
    stage_ir: dict[str, str] = {}
    for stage, passes in stage_pipelines(options):
        apply_pipeline(module, passes)
        stage_ir[stage] = str(module)
    iface = project.kernel_interface(module)
    golden = options.golden_inputs
    if golden is None:
        rng = np.random.default_rng(options.seed)
        golden = {p.name: rng.standard_normal((options.golden_count, *p.shape)).astype(np.float32) for p in iface.inputs}
    expected = run_function(module, golden)  # integer/dataflow interpreter: the golden model
    hls = lower_to_hlscpp(module, kernel)
    stage_ir["hlscpp"] = str(hls)
    report = _report(module, options, source)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    tmp.chmod(0o755)
    try:
        write_sources(hls, iface, tmp, kernel)
        project.write_codes(tmp / "tb_input.bin", iface.quantize_inputs(golden))
        project.write_codes(tmp / "tb_expected.bin", _codes_of(iface, expected))
        (tmp / "run_hls.tcl").write_text(project.tcl_script(kernel, options.part, options.clock_ns))
        ir_dir = tmp / "ir"
        ir_dir.mkdir()
        for i, (stage, text) in enumerate(stage_ir.items()):
            (ir_dir / f"{i}-{stage}.mlir").write_text(text + "\n")
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        np.savez(tmp / "golden.npz", **{f"input_{k}": v for k, v in golden.items()},
                 **{f"output_{k}": v for k, v in expected.items()})
        (tmp / MARKER).write_text(f"written by lstmc compile from {source}\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def _codes_of(iface, expected: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Output codes of the golden outputs: the dequantized values divided back exactly (v * s / s == v
    for the small integers of a quantizer's range, checked)."""
    from lstmc import numerics
    from lstmc.hls import project
    from lstmc.numerics import quant_params

    codes = []
    for p in iface.outputs:
        q = quant_params(p.quant)
        value = np.asarray(expected[p.name], np.float32)
        c = numerics.quantize(value, q, batched=True)
        zp = numerics.channel_values(q.zero_point, q.axis, c.ndim, np.int64, batched=True)
        c = c - zp
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
    report["estimate"] = qor.estimate_module(module).to_dict()
    return report
