"""A cold C-simulation versus the `reference` stage on the same inputs (issue 13: cold csim <= 3x reference).

Run: python benchmarks/csim_cold.py [--size I,H,T] [--sequences N] [--no-cli]
One random quantized LSTM (lstmc.testing.build_lstm, power-of-two scales; default I=40, H=32, T=100) and N
random sequences (default 64), through
- reference: the `reference` stage (onnxruntime, one run per sequence, session creation included);
- csim cold: the `csim` stage with an empty cache directory (LSTMC_CACHE_DIR): import, lowering, emission, the
  precompiled ap_int/hls_stream headers (built once per user, compiler and flags), g++ of the kernel, the run;
- csim new model: the same with the precompiled headers already there (what each further model costs);
- csim warm: the binary cached (a re-run: lowering, emission, the run).
First in this process (imports warmed up beforehand), then with --cli (the default) as `lstmc run` processes,
start-up included, as a user sees them. Reported: seconds, and each csim time as a ratio to the reference time
of the same run; the csim outputs must equal the reference's bit for bit.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
import onnx

from lstmc.stages import run_stage
from lstmc.testing import LstmSpec, build_lstm

STATES = ("cold", "new model", "warm")


def _prepare(cache: Path, state: str) -> None:
    """Leave the cache as `state` needs it: cold empties it, new model keeps only the precompiled headers."""
    for f in (cache / "csim").glob("*") if (cache / "csim").is_dir() else []:
        if state == "cold" or (state == "new model" and f.name.startswith("csim-")):
            f.unlink()


def in_process(model: onnx.ModelProto, inputs: dict, cache: Path) -> dict:
    first = {k: v[:1] for k, v in inputs.items()}
    run_stage("reference", model, first)  # imports and one-time set-up of both paths, not timed
    run_stage("integer", model, first)
    t0 = time.perf_counter()
    ref = run_stage("reference", model, inputs)
    times = {"reference": time.perf_counter() - t0}
    os.environ["LSTMC_CACHE_DIR"] = str(cache)
    same = True
    for state in STATES:
        _prepare(cache, state)
        t0 = time.perf_counter()
        got = run_stage("csim", model, inputs)
        times[state] = time.perf_counter() - t0
        same &= all(np.array_equal(ref[k], got[k]) for k in ref)
    return {"times": times, "same": same}


def with_cli(model_path: Path, inputs_path: Path, tmp: Path, cache: Path) -> dict:
    lstmc = Path(sys.executable).with_name("lstmc")
    env = {**os.environ, "LSTMC_CACHE_DIR": str(cache)}

    def run(stage: str, out: Path) -> float:
        t0 = time.perf_counter()
        subprocess.run(
            [str(lstmc), "run", str(model_path), "--inputs", str(inputs_path), "--stage", stage, "--output", str(out)],
            check=True,
            capture_output=True,
            env=env,
        )
        return time.perf_counter() - t0

    run("reference", tmp / "warm-up.npz")  # the OS file cache, not the lstmc caches
    times = {"reference": run("reference", tmp / "ref.npz")}
    for state in STATES:
        _prepare(cache, state)
        times[state] = run("csim", tmp / f"csim-{state}.npz")
    ref, got = np.load(tmp / "ref.npz"), np.load(tmp / "csim-cold.npz")
    return {"times": times, "same": all(np.array_equal(ref[k], got[k]) for k in ref.files)}


def report(label: str, r: dict) -> None:
    t = r["times"]
    print(
        f"{label:<11} {t['reference']:>9.2f}s "
        + " ".join(f"{t[s]:>7.2f}s ({t[s] / t['reference']:>5.1f}x)" for s in STATES)
        + f" {str(r['same']):>9}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="40,32,100", help="I,H,T")
    parser.add_argument("--sequences", type=int, default=64)
    parser.add_argument("--no-cli", dest="cli", action="store_false", help="only time in this process")
    args = parser.parse_args()
    i, h, t = (int(v) for v in args.size.split(","))
    model = build_lstm(LstmSpec(input_size=i, hidden_size=h, seq_len=t))
    rng = np.random.default_rng(0)
    inputs = {model.graph.input[0].name: rng.standard_normal((args.sequences, t, i)).astype(np.float32)}
    print(f"I={i} H={h} T={t}, {args.sequences} sequences; csim as a ratio to the reference of the same run")
    print(f"{'':<11} {'reference':>10} " + " ".join(f"{'csim ' + s:>17}" for s in STATES) + f" {'bit-equal':>9}")
    with tempfile.TemporaryDirectory(prefix="lstmc-bench-") as tmp:
        tmp = Path(tmp)
        report("in process", in_process(model, inputs, tmp / "cache-a"))
        if args.cli:
            onnx.save(model, tmp / "model.onnx")
            # (as keyword arguments of any type: savez's own `allow_pickle` keyword is one of them)
            np.savez(tmp / "inputs.npz", **cast("dict[str, Any]", inputs))
            report("lstmc run", with_cli(tmp / "model.onnx", tmp / "inputs.npz", tmp, tmp / "cache-b"))


if __name__ == "__main__":
    main()
