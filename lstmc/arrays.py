"""A model's input and output arrays: .npz inputs read and checked against the model, outputs written, random
inputs drawn. Used by the CLI, the Python API and `lstmc quantize` alike."""

from __future__ import annotations

import math
import os
import zipfile
from fractions import Fraction
from typing import Any, cast

import numpy as np

from lstmc.errors import LstmcError

# Inputs are read from the archive's headers first, so an array that claims an absurd shape (or a shape the
# model cannot take) is refused before any memory is allocated for it; 1 GiB is far beyond any verification run.
INPUT_BYTE_BUDGET = 1 << 30
_NPY_MAGIC = b"\x93NUMPY"


def input_shapes(model) -> dict[str, tuple[int | None, ...] | None]:
    """The arrays a model takes (graph inputs that are not initializers) and the shape of one sequence of each;
    None for a symbolic dimension (and for the whole shape when the model does not say)."""
    initializers = {i.name for i in model.graph.initializer}
    shapes: dict[str, tuple[int | None, ...] | None] = {}
    for inp in model.graph.input:
        if inp.name in initializers:
            continue
        tt = inp.type.tensor_type if inp.type.HasField("tensor_type") else None
        if tt is None or not tt.HasField("shape"):
            shapes[inp.name] = None
        else:
            shapes[inp.name] = tuple(
                d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in tt.shape.dim
            )
    return shapes


def _shape_text(shape) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _read_npy_header(member, path: str, key: str) -> tuple[tuple[int, ...], np.dtype]:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(member)
        readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
        if version not in readers:  # 3.0 only exists for structured dtypes with non-Latin-1 field names
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
        shape, _, dtype = readers[version](member)
        if any(d < 0 for d in shape):
            raise ValueError(f"negative dimension in shape {list(shape)}")
    except (ValueError, EOFError, OSError, SyntaxError, TypeError, zipfile.BadZipFile) as e:
        raise LstmcError(f"{path}: array '{key}' is not a readable .npy array ({e})") from None
    return shape, dtype


def _check_dtype(dtype: np.dtype, path: str, key: str) -> None:
    # Only real numbers make sense as inputs; object arrays would need pickle, which is never enabled.
    if dtype.kind not in "fiu":
        kinds = {
            "b": "booleans",
            "c": "complex numbers",
            "U": "strings",
            "S": "byte strings",
            "O": "Python objects",
            "V": "records (a structured dtype)",
            "M": "dates",
            "m": "time deltas",
        }
        what = kinds.get(dtype.kind, f"dtype {dtype}")
        raise LstmcError(f"{path}: array '{key}' holds {what} (dtype {dtype}); inputs must be float or integer numbers")


def load_inputs(path: str, model=None, option: str = "--inputs", batch: bool = False) -> dict[str, np.ndarray]:
    """Arrays from an .npz written by np.savez, refused with one line when they cannot be the model's inputs.

    With `model`: keys must be its graph inputs (arrays named like a graph output, such as the targets of a
    fixture, are skipped); each array is one sequence (the input's shape) or a batch of N >= 1 (one extra
    leading axis), all in the same form; `batch` turns one sequence into a batch of one. Arrays are float32.
    NaN and +-inf are kept: every stage quantizes them as onnxruntime's QuantizeLinear does (NaN to the lowest
    code, inf saturated), so the stages still agree bit for bit.
    """
    if not path:
        raise LstmcError(f"{option}: empty path")
    if not os.path.exists(path):
        raise LstmcError(f"{path}: no such file")
    if os.path.isdir(path):
        raise LstmcError(f"{path}: is a directory, expected an .npz file")
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
        if magic == _NPY_MAGIC:
            raise LstmcError(
                f"{path}: a single .npy array; {option} takes an .npz archive of arrays named by the "
                "model's inputs (np.savez(path, X=x))"
            )
        if not zipfile.is_zipfile(path):
            raise LstmcError(f"{path}: not a readable .npz archive (not a zip file; write it with np.savez)")
        with zipfile.ZipFile(path) as archive:
            return _load_npz(archive, path, model, option, batch)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, NotImplementedError) as e:
        raise LstmcError(f"{path}: not a readable .npz archive ({e})") from e


def _load_npz(archive: zipfile.ZipFile, path: str, model, option: str, batch: bool) -> dict[str, np.ndarray]:
    expected = input_shapes(model) if model is not None else None
    outputs = {o.name for o in model.graph.output} if model is not None else set()
    members: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        key = info.filename.removesuffix(".npy")
        if info.is_dir() or key == info.filename:
            raise LstmcError(f"{path}: member '{info.filename}' is not a .npy array; write the file with np.savez")
        if key in members:
            raise LstmcError(f"{path}: array '{key}' appears twice")
        if info.flag_bits & 0x1:  # zipfile would raise RuntimeError asking for a password
            raise LstmcError(f"{path}: array '{key}' is encrypted")
        members[key] = info
    if expected is not None:
        missing = [k for k in expected if k not in members]
        if missing:
            raise LstmcError(f"{path}: missing input(s) {', '.join(missing)}; the model takes {', '.join(expected)}")
        extra = [k for k in members if k not in expected and k not in outputs]
        if extra:
            raise LstmcError(f"{path}: unexpected array(s) {', '.join(extra)}; the model takes {', '.join(expected)}")
        members = {k: members[k] for k in expected}
    if not members:
        raise LstmcError(f"{path}: the archive holds no arrays")

    # 1. headers only: dtype, shape against the model, size against the budget and the member's real length
    forms: dict[str, int | None] = {}  # batch size N, or None for one sequence
    total = 0
    for key, info in members.items():
        with archive.open(info) as member:
            shape, dtype = _read_npy_header(member, path, key)
            header_len = member.tell()
        _check_dtype(dtype, path, key)
        if expected is not None:
            forms[key] = batch_size(shape, expected[key], path, key)
        if 0 in shape:
            raise LstmcError(f"{path}: array '{key}' is empty (shape {list(shape)}); give at least one sequence")
        nbytes = math.prod(shape) * dtype.itemsize
        total += nbytes
        if total > INPUT_BYTE_BUDGET:
            raise LstmcError(
                f"{path}: array '{key}' claims shape {list(shape)} ({nbytes:,} bytes); lstmc reads at "
                f"most {INPUT_BYTE_BUDGET:,} bytes of inputs"
            )
        if nbytes != info.file_size - header_len:
            raise LstmcError(
                f"{path}: array '{key}' is truncated or corrupt: its header claims {nbytes:,} bytes of "
                f"data, the archive holds {info.file_size - header_len:,}"
            )
    if len({n is None for n in forms.values()}) > 1:
        raise LstmcError(
            f"{path}: either every input is a batch (leading axis N) or none is; got "
            + ", ".join(f"'{k}' {'one sequence' if n is None else f'a batch of {n}'}" for k, n in forms.items())
        )
    if len({n for n in forms.values() if n is not None}) > 1:
        raise LstmcError(
            f"{path}: inputs have different batch sizes: " + ", ".join(f"'{k}' {n}" for k, n in forms.items())
        )
    batched = any(n is not None for n in forms.values())

    # 2. the data
    arrays = {}
    for key, info in members.items():
        with archive.open(info) as member:
            arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
    if expected is None:
        return arrays
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes +-inf, which the stages take
        arrays = {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}
    return {k: v[None] for k, v in arrays.items()} if batch and not batched else arrays


def batch_size(shape: tuple[int, ...], want: tuple[int | None, ...] | None, path: str, key: str) -> int | None:
    """N if `shape` is a batch [N, *want], None if it is one sequence (`want`); else refuse, naming both."""
    if want is None:  # the model does not say: take the array as it is
        return None

    def fits(got):
        return len(got) == len(want) and all(w is None or g == w for g, w in zip(got, want))

    if fits(shape):
        return None
    if len(shape) == len(want) + 1 and fits(shape[1:]):
        return shape[0]
    raise LstmcError(
        f"{path}: input '{key}' has shape {list(shape)}; expected {_shape_text(want)} (one sequence) or "
        f"[N, {_shape_text(want)[1:]} (a batch of N)"
    )


def save_outputs(path: str, outputs: dict[str, np.ndarray], option: str = "--output") -> None:
    from lstmc.project_dir import check_npz_keys, write_file_atomically

    check_npz_keys(outputs, "output")
    # Temporary file + rename (np.savez into the open file: it would append ".npz" to a bare name).
    # (typed as keyword arguments of any type: savez's own `allow_pickle` keyword is one of them)
    write_file_atomically(path, lambda f: np.savez(f, **cast("dict[str, Any]", outputs)), option)


def random_inputs(model, count: int, seed: int, option: str = "--random") -> dict[str, np.ndarray]:
    from lstmc.frontend import static_shape

    if count < 1:
        raise LstmcError(f"{option} needs a positive number of sequences, got {count}")
    if seed < 0:  # numpy's default_rng refuses negative seeds with a ValueError
        raise LstmcError(f"--seed must be >= 0, got {seed}")
    initializers = {i.name for i in model.graph.initializer}
    shapes = {
        inp.name: static_shape(inp.type, f"graph input '{inp.name}'")
        for inp in model.graph.input
        if inp.name not in initializers
    }
    check_sequence_budget(shapes.values(), count, option)
    rng = np.random.default_rng(seed)
    arrays = {name: rng.standard_normal((count, *shape)).astype(np.float32) for name, shape in shapes.items()}
    # An initial state given as a graph input (FINN-GL's h0/c0) is quantized onto the state's grid by the kernel
    # but read as it is by the reference: draw it on that grid, as codes times the scale (what a
    # DequantizeLinear would give).
    states = {
        n.input[i]
        for n in model.graph.node
        if n.op_type == "Scan"
        for i in range(len(n.input) - next((a.i for a in n.attribute if a.name == "num_scan_inputs"), 0))
    }
    if states & set(arrays):
        from lstmc.analysis import initial_state_grids
        from lstmc.frontend import import_model

        for name, grid in initial_state_grids(import_model(model)).items():
            scale = np.float32(float(grid.scale))
            if name in arrays and Fraction(float(scale)) == grid.scale:
                codes = rng.integers(grid.lo, grid.hi + 1, arrays[name].shape)
                arrays[name] = codes.astype(np.float32) * scale
    return arrays


def check_sequence_budget(shapes, count: int, option: str) -> None:
    """Refuse a number of sequences whose float32 inputs alone would exceed INPUT_BYTE_BUDGET."""
    per_sequence = sum(math.prod(shape) * 4 for shape in shapes)
    if count * per_sequence > INPUT_BYTE_BUDGET:
        limit = max(1, INPUT_BYTE_BUDGET // max(per_sequence, 1))
        raise LstmcError(
            f"{option} {count}: too many sequences ({count * per_sequence:,} bytes of inputs); "
            f"at most {limit:,} for this model"
        )
