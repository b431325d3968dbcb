"""Mutation fuzzing of ONNX models: a seeded library of mutation operators over `onnx.ModelProto`.

Each operator is a small function `(rng, model) -> description` that mutates a copy of a model in place
(or, for the byte-level operators, `(rng, data) -> (data, description)` on the serialized bytes) and says
what it did. Everything is deterministic in (model bytes, operator name, seed): `mutate(...)` builds its
`random.Random` from those, so a mutant is reproducible alone, in any order, on any machine.

Operators (see OPERATORS):
- structure: delete a node (main graph or a Scan body), drop an initializer, rewire a node input, duplicate a
  value name;
- tensors: an initializer's (or Constant's) dtype, shape or values (NaN, inf, 0, huge, negative, denormal,
  INT32_MIN, ...), with a bias towards quantizer parameters (scales, zero points, bit widths, Clip bounds);
- attributes: ints/floats out of range, axes lists, strings, deleted or unknown attributes;
- model: opset and IR versions, node domains, graph input/output element types and shapes;
- names (`keeps_valid`): rename a value, node, graph, graph input or output to a hostile name (quotes,
  backslashes, newlines, comment delimiters, printf formats, C++ keywords, names of the generated code's own
  variables, `../x`, absolute paths, `.lstmc-build`, shell/TCL syntax, non-ASCII, very long, names that
  collide after sanitising). Every use is renamed, including inside subgraphs, so the model stays valid and
  reaches the code generator;
- havoc: two to four of the model-level operators stacked;
- bytes: truncate the serialized model, flip random bits.

`python -m lstmc.fuzz MODEL OPERATOR SEED -o OUT.onnx` writes one mutant (to reproduce a failure).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import AttributeProto, GraphProto, ModelProto, TensorProto, numpy_helper

# ------------------------------------------------------------------------------------------- hostile names
CANARY = "PWNED"  # the file every injected shell command in HOSTILE_NAMES tries to create

NAME_CLASSES: dict[str, tuple[str, ...]] = {
    # break out of string literals, escapes, comments, printf formats
    "literal": (
        '"',
        "'",
        "\\",
        'a"b',
        "a'b",
        "a\\",
        "a\\nb",
        "a\nb",
        "\n",
        "\r\n",
        "a\tb",
        "a\x0bb",
        "*/",
        "/*",
        "//",
        "a */ b",
        "x /* y",
        "%s%s%s%n",
        "%d",
        "%",
        "??/",
        "\\u0041",
        "\\x41",
        "\\\n",
        "#define X 1",
        "#include <x>",
        'Y\\", s); //',
        "a\\\nb",
    ),
    # C++ keywords and names from the standard library / HLS headers
    "keyword": (
        "int",
        "and",
        "or",
        "not",
        "xor",
        "NULL",
        "nullptr",
        "main",
        "class",
        "return",
        "struct",
        "template",
        "void",
        "static",
        "auto",
        "this",
        "new",
        "delete",
        "operator",
        "std",
        "hls",
        "ap_int",
        "ap_uint",
        "stream",
        "printf",
        "fopen",
        "FILE",
        "errno",
        "EOF",
        "assert",
        "__LINE__",
        "_Reserved",
        "__x",
    ),
    # names of the generated code's own variables, functions and files
    "generated": (
        "in0",
        "out0",
        "in",
        "out",
        "s",
        "e",
        "v",
        "n",
        "n_out",
        "want",
        "mismatches",
        "check",
        "run",
        "i",
        "j",
        "v2",
        "state0",
        "value",
        "read_X",
        "write_Y",
        "write_h_n",
        "reshape_h_n",
        "constant_1",
        "lstmc_kernel",
        "lstmc_kernel_tb",
        "tb_input.bin",
        "report.json",
        "run_hls.tcl",
        "ir",
        "golden.npz",
    ),
    # paths, markers, shell and TCL syntax
    "path": (
        "../x",
        "../../x",
        "../" + CANARY,
        "/tmp/lstmc-fuzz-" + CANARY,
        "a/b",
        ".lstmc-build",
        "..",
        ".",
        "~",
        "$HOME",
        "$(touch " + CANARY + ")",
        "`touch " + CANARY + "`",
        "[exec touch " + CANARY + "]",
        "{",
        "}",
        "x}; exec touch " + CANARY + "; set y {",
        ";",
        "|",
        "&",
    ),
    # odd but legal strings
    "odd": (
        " ",
        "0",
        "1x",
        "-x",
        "x-y",
        "x.y",
        "x y",
        "x::y",
        "x<y>",
        "x,y",
        "x(y)",
        "x[0]",
        "x=y",
        "é",
        "名前",
        "Ω",
        "\u202eevil",
        "a\u200bb",
        "\U0001d518",
        "\x00",
        "a\x00b",
        "\x7f",
        "\ufeffX",
        "e\u0301",
    ),
}
HOSTILE_NAMES: tuple[str, ...] = tuple(n for names in NAME_CLASSES.values() for n in names)

# Pairs that are distinct strings but are likely to collide once made into C++ identifiers.
COLLIDING: tuple[tuple[str, str], ...] = (
    ("a.b", "a_b"),
    ("a-b", "a_b"),
    ("a b", "a_b"),
    ("a/b", "a_b"),
    ("a:b", "a_b"),
    ("é", "e"),
    ("1x", "_1x"),
    ("int", "int_"),
    ("x y", "x-y"),
    ("A", "a"),
    ("名", "前"),
    ("a\nb", "a\rb"),
    ('a"b', "a'b"),
    ("", " "),
)


def hostile_name(rng: random.Random, allow_empty: bool = True) -> str:
    """A hostile string: from a class of NAME_CLASSES drawn uniformly, two joined, one around an ordinary
    name, very long or empty."""
    pick = lambda: rng.choice(NAME_CLASSES[rng.choice(list(NAME_CLASSES))])  # noqa: E731
    roll = rng.random()
    if roll < 0.6:
        name = pick()
    elif roll < 0.75:
        name = pick() + pick()
    elif roll < 0.85:
        name = "v" + pick() + "w"
    elif roll < 0.94:
        name = rng.choice(["a", "_", "é", '"', "\n"]) * rng.choice([64, 255, 256, 4097, 70000])
    else:
        name = "" if allow_empty else pick()
    return name


# ------------------------------------------------------------------------------------------- graph walking
def graphs(model: ModelProto) -> list[tuple[GraphProto, str]]:
    """Every graph of the model (main graph, then subgraphs depth-first) with a label saying where it is."""
    out: list[tuple[GraphProto, str]] = []

    def walk(g: GraphProto, where: str) -> None:
        out.append((g, where))
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.GRAPH:
                    walk(attr.g, f"{where} > node '{node.name or node.op_type}'.{attr.name}")
                elif attr.type == AttributeProto.GRAPHS:
                    for k, sub in enumerate(attr.graphs):
                        walk(sub, f"{where} > node '{node.name or node.op_type}'.{attr.name}[{k}]")

    walk(model.graph, "graph")
    return out


def all_nodes(model: ModelProto) -> list[tuple[GraphProto, int, str]]:
    return [(g, i, where) for g, where in graphs(model) for i in range(len(g.node))]


def all_names(model: ModelProto) -> set[str]:
    """Every value name used anywhere in the model."""
    names: set[str] = set()
    for g, _ in graphs(model):
        names |= {v.name for v in (*g.input, *g.output, *g.value_info)}
        names |= {t.name for t in g.initializer}
        for node in g.node:
            names |= set(node.input) | set(node.output)
    names.discard("")
    return names


def rename_value(model: ModelProto, old: str, new: str) -> None:
    """Rename value `old` to `new` everywhere: graph inputs/outputs/value_info, initializers, node inputs and
    outputs, in every graph (a subgraph may read an outer value by name)."""
    for g, _ in graphs(model):
        for v in (*g.input, *g.output, *g.value_info):
            if v.name == old:
                v.name = new
        for t in g.initializer:
            if t.name == old:
                t.name = new
        for s in g.sparse_initializer:
            if s.values.name == old:
                s.values.name = new
        for node in g.node:
            for k, name in enumerate(node.input):
                if name == old:
                    node.input[k] = new
            for k, name in enumerate(node.output):
                if name == old:
                    node.output[k] = new


def _fresh(model: ModelProto, name: str) -> str:
    """`name`, or `name` with a suffix if it is already a value name (a rename must not merge two values)."""
    used = all_names(model)
    base, k = name, 0
    while name in used or name == "":
        k += 1
        name = f"{base}{'~' * k}"
    return name


def tensors(model: ModelProto) -> list[tuple[TensorProto, str]]:
    """Every initializer and Constant value tensor, with where it is."""
    out = []
    for g, where in graphs(model):
        out += [(t, f"initializer '{t.name}' in {where}") for t in g.initializer]
        for node in g.node:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR:
                    out.append((attr.t, f"{attr.name} of node '{node.name or node.op_type}' in {where}"))
    return out


QUANT_OPS = {"QuantizeLinear", "DequantizeLinear", "Quant", "BipolarQuant", "Trunc", "Clip", "QuantLSTMCell"}


def quant_parameter_tensors(model: ModelProto) -> list[tuple[TensorProto, str]]:
    """Initializers/Constants read as a quantizer's parameter (scale, zero point, bit width, Clip bound)."""
    by_name: dict[str, tuple[TensorProto, str]] = {}
    for g, where in graphs(model):
        for t in g.initializer:
            by_name[t.name] = (t, f"initializer '{t.name}' in {where}")
        for node in g.node:
            if node.op_type == "Constant":
                for attr in node.attribute:
                    if attr.type == AttributeProto.TENSOR:
                        by_name[node.output[0]] = (attr.t, f"Constant '{node.output[0]}' in {where}")
    params, seen = [], set()
    for g, _ in graphs(model):
        for node in g.node:
            if node.op_type in QUANT_OPS:
                start = 1 if node.op_type != "QuantLSTMCell" else 0
                for name in node.input[start:]:
                    if name in by_name and name not in seen:
                        seen.add(name)
                        params.append(by_name[name])
    return params


def _set_tensor(t: TensorProto, array: np.ndarray) -> None:
    name = t.name
    t.CopyFrom(numpy_helper.from_array(array, name))


def _special_values(dtype: np.dtype) -> list:
    if np.issubdtype(dtype, np.floating):
        return [
            math.nan,
            math.inf,
            -math.inf,
            0.0,
            -0.0,
            1e38,
            -1e38,
            3.4e38,
            1e-45,
            -1.0,
            1e20,
            -1e20,
            2.0**31,
            -(2.0**31),
            0.5,
            1e-30,
        ]
    if dtype == np.bool_:
        return [True, False]
    info = np.iinfo(dtype)
    return sorted(
        {info.min, info.max, 0, -1 if info.min < 0 else 1, info.min + 1, info.max - 1, 2, 127, 128, 255, -128, 33, 64}
    )


def _cast_special(v, dtype: np.dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return int(min(max(int(v), info.min), info.max))
    return v


# ------------------------------------------------------------------------------------------- operators
def op_delete_node(rng: random.Random, model: ModelProto) -> str:
    nodes = all_nodes(model)
    g, i, where = rng.choice(nodes)
    node = g.node[i]
    del g.node[i]
    return f"delete node '{node.name}' ({node.op_type}) from {where}"


def op_drop_initializer(rng: random.Random, model: ModelProto) -> str:
    choices = [(g, i, where) for g, where in graphs(model) for i in range(len(g.initializer))]
    if not choices:
        return op_delete_node(rng, model)
    g, i, where = rng.choice(choices)
    name = g.initializer[i].name
    del g.initializer[i]
    return f"drop initializer '{name}' from {where}"


DTYPES = [
    np.float64,
    np.float16,
    np.int8,
    np.uint8,
    np.int16,
    np.uint16,
    np.int32,
    np.uint32,
    np.int64,
    np.uint64,
    np.bool_,
    np.float32,
]
RAW_TYPES = [
    TensorProto.UNDEFINED,
    TensorProto.FLOAT,
    TensorProto.DOUBLE,
    TensorProto.INT8,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.STRING,
    TensorProto.BFLOAT16,
    TensorProto.FLOAT8E4M3FN,
    TensorProto.INT4,
    TensorProto.UINT4,
    TensorProto.COMPLEX64,
    9999,
]


def _pick_tensor(rng: random.Random, model: ModelProto) -> tuple[TensorProto, str]:
    params = quant_parameter_tensors(model)
    if params and rng.random() < 0.5:
        return rng.choice(params)
    return rng.choice(tensors(model))


def op_tensor_dtype(rng: random.Random, model: ModelProto) -> str:
    t, where = _pick_tensor(rng, model)
    variant = rng.randrange(3)
    if variant == 0:  # convert the values to another dtype (a consistent tensor)
        array = numpy_helper.to_array(t)
        dtype = np.dtype(rng.choice(DTYPES))
        with np.errstate(all="ignore"):
            converted = array.astype(dtype)
        _set_tensor(t, converted)
        return f"convert {where} from {array.dtype} to {dtype}"
    if variant == 1:  # relabel the element type, keep the bytes (inconsistent or reinterpreted)
        old = t.data_type
        t.data_type = rng.choice(RAW_TYPES)
        return f"relabel {where} data_type {old} -> {t.data_type}"
    count = int(np.prod(t.dims)) if len(t.dims) else 1
    strings = np.array([rng.choice(["1", "nan", "", "x"]) for _ in range(count)], dtype=object).reshape(tuple(t.dims))
    _set_tensor(t, strings)
    return f"replace {where} by a string tensor"


def op_tensor_shape(rng: random.Random, model: ModelProto) -> str:
    t, where = _pick_tensor(rng, model)
    array = numpy_helper.to_array(t)
    variant = rng.randrange(6)
    old = list(array.shape)
    if variant == 0:
        new = array.reshape(1, *array.shape)
    elif variant == 1:
        new = array.reshape(-1) if array.ndim != 1 else array.reshape(-1, 1)
    elif variant == 2:
        new = array.reshape(-1)[: rng.randrange(max(1, array.size))]  # fewer elements (maybe none)
    elif variant == 3:
        new = np.concatenate([array.reshape(-1)] * rng.choice([2, 3])).reshape(-1)
        if array.ndim >= 2:
            new = new.reshape(-1, *array.shape[1:])
    elif variant == 4:
        new = array.reshape(-1)[:1].reshape(()) if array.size else array.reshape(0)
    else:  # dims that disagree with the stored data
        dims = list(t.dims) or [1]
        k = rng.randrange(len(dims))
        dims[k] = rng.choice([0, -1, dims[k] + 1, 2**31 - 1, 2**40, 16])
        del t.dims[:]
        t.dims.extend(dims)
        return f"set dims of {where} {old} -> {dims} (data unchanged)"
    _set_tensor(t, new)
    return f"reshape {where} {old} -> {list(new.shape)}"


def op_tensor_values(rng: random.Random, model: ModelProto) -> str:
    t, where = _pick_tensor(rng, model)
    array = numpy_helper.to_array(t).copy()
    if array.dtype == object or array.size == 0:
        return op_tensor_shape(rng, model)
    specials = _special_values(array.dtype)
    value = rng.choice(specials)
    flat = array.reshape(-1)
    if rng.random() < 0.5:
        flat[...] = _cast_special(value, array.dtype)
        what = "every element"
    else:
        k = rng.randrange(flat.size)
        flat[k] = _cast_special(value, array.dtype)
        what = f"element {k}"
    if (
        rng.random() < 0.2
        and np.issubdtype(array.dtype, np.number)
        and not np.issubdtype(array.dtype, np.unsignedinteger)
    ):
        with np.errstate(all="ignore"):
            flat[...] = -flat
        what += " (then negated all)"
    _set_tensor(t, flat.reshape(array.shape))
    return f"set {what} of {where} to {value!r}"


INT_VALUES = [-1, 0, 1, 2, 3, 7, 33, 99, 2**31, -(2**31), 2**63 - 1, -(2**63)]
FLOAT_VALUES = [math.nan, math.inf, -math.inf, 0.0, -1.0, 1e38, 1e-45, 0.5, 2.5]
STRING_VALUES = [
    b"",
    b"nonsense",
    b'ROUND"; exec touch ' + CANARY.encode(),
    b"\xff\xfe",
    b"ROUND",
    b"FLOOR",
    b"CEIL",
    b"HALF_EVEN",
    b"x" * 1000,
]


def op_attribute(rng: random.Random, model: ModelProto) -> str:
    choices = [
        (node, k, where)
        for g, where in graphs(model)
        for node in g.node
        for k in range(len(node.attribute))
        if node.attribute[k].type != AttributeProto.GRAPH
    ]
    if not choices:
        return op_opset(rng, model)
    node, k, where = rng.choice(choices)
    attr = node.attribute[k]
    label = f"attribute {attr.name} of node '{node.name or node.op_type}' ({node.op_type}) in {where}"
    roll = rng.random()
    if roll < 0.12:
        del node.attribute[k]
        return f"delete {label}"
    if roll < 0.2:
        node.attribute.append(
            onnx.helper.make_attribute(rng.choice(["block_size", "axis", "bogus", "saturate"]), rng.choice(INT_VALUES))
        )
        return f"add attribute {node.attribute[-1].name}={node.attribute[-1].i} to node '{node.name or node.op_type}'"
    if roll < 0.28:  # same name, other type
        new = onnx.helper.make_attribute(attr.name, rng.choice([1.5, "x", [1, 2], [0.5]]))
        attr.CopyFrom(new)
        return f"change the type of {label} to {AttributeProto.AttributeType.Name(new.type)}"
    if attr.type == AttributeProto.INT:
        old, attr.i = attr.i, rng.choice(INT_VALUES)
        return f"set {label} {old} -> {attr.i}"
    if attr.type == AttributeProto.FLOAT:
        old, attr.f = attr.f, rng.choice(FLOAT_VALUES)
        return f"set {label} {old} -> {attr.f}"
    if attr.type == AttributeProto.INTS:
        old = list(attr.ints)
        new = rng.choice(
            [[], [0, 0], [5], old + [7], [-v for v in old], [2**40] * max(1, len(old)), old[:-1], [1] * (len(old) + 1)]
        )
        del attr.ints[:]
        attr.ints.extend(new)
        return f"set {label} {old} -> {new}"
    if attr.type == AttributeProto.FLOATS:
        old = list(attr.floats)
        new = rng.choice([[], [math.nan], old + [1.0]])
        del attr.floats[:]
        attr.floats.extend(new)
        return f"set {label} {old} -> {new}"
    if attr.type == AttributeProto.STRING:
        old, attr.s = attr.s, rng.choice(STRING_VALUES)
        return f"set {label} {old!r} -> {attr.s!r}"
    if attr.type == AttributeProto.TENSOR:
        array = numpy_helper.to_array(attr.t).copy()
        if array.size and array.dtype != object:
            value = rng.choice(_special_values(array.dtype))
            array.reshape(-1)[rng.randrange(array.size)] = _cast_special(value, array.dtype)
            _set_tensor(attr.t, array)
            return f"set an element of {label} to {value!r}"
    del node.attribute[k]
    return f"delete {label}"


def op_opset(rng: random.Random, model: ModelProto) -> str:
    roll = rng.randrange(5)
    if roll == 0 and model.opset_import:
        entry = rng.choice(list(model.opset_import))
        old, entry.version = entry.version, rng.choice([0, 1, 6, 7, 9, 10, 12, 13, 18, 21, 22, 23, 26, 99, 2**40, -1])
        return f"set opset of domain '{entry.domain}' {old} -> {entry.version}"
    if roll == 1 and model.opset_import:
        k = rng.randrange(len(model.opset_import))
        domain = model.opset_import[k].domain
        del model.opset_import[k]
        return f"remove the opset import of domain '{domain}'"
    if roll == 2:
        old, model.ir_version = model.ir_version, rng.choice([0, 1, 3, 7, 99, 2**40])
        return f"set ir_version {old} -> {model.ir_version}"
    if roll == 3:
        g, i, where = rng.choice(all_nodes(model))
        node = g.node[i]
        old, node.domain = (
            node.domain,
            rng.choice(["", "ai.onnx", "com.microsoft", "qonnx.custom_op.general", "finn.custom_op.general", 'x"y']),
        )
        return f"set domain of node '{node.name}' ({node.op_type}) in {where} '{old}' -> '{node.domain}'"
    g, i, where = rng.choice(all_nodes(model))
    node = g.node[i]
    old, node.op_type = (
        node.op_type,
        rng.choice(["LSTM", "GRU", "Identity", "Loop", "If", "Scan", "Quant", "QuantizeLinear", "Relu", "Bogus", ""]),
    )
    return f"set op_type of node '{node.name}' in {where} {old} -> {node.op_type}"


ELEM_TYPES = [
    TensorProto.UNDEFINED,
    TensorProto.DOUBLE,
    TensorProto.INT8,
    TensorProto.STRING,
    TensorProto.FLOAT16,
    TensorProto.BOOL,
    TensorProto.INT64,
]


def op_io_type(rng: random.Random, model: ModelProto) -> str:
    values = [(v, f"graph input '{v.name}' in {where}") for g, where in graphs(model) for v in g.input]
    values += [(v, f"graph output '{v.name}' in {where}") for g, where in graphs(model) for v in g.output]
    v, label = rng.choice(values)
    tt = v.type.tensor_type
    roll = rng.randrange(5)
    if roll == 0:
        old, tt.elem_type = tt.elem_type, rng.choice(ELEM_TYPES)
        return f"set elem_type of {label} {old} -> {tt.elem_type}"
    if roll == 1:
        v.type.ClearField("tensor_type")
        if rng.random() < 0.5:
            v.type.sequence_type.elem_type.tensor_type.elem_type = TensorProto.FLOAT
            return f"make {label} a sequence"
        return f"remove the type of {label}"
    if roll == 2:
        tt.ClearField("shape")
        return f"remove the shape of {label}"
    dims = tt.shape.dim
    if roll == 3 and len(dims):
        d = dims[rng.randrange(len(dims))]
        if rng.random() < 0.3:
            d.dim_param = rng.choice(["N", "batch", "", '"; x'])
            return f"make a dim of {label} symbolic '{d.dim_param}'"
        old, d.dim_value = d.dim_value, rng.choice([0, -1, 1, 2, 3, 5, 100000, 2**31 - 1])
        return f"set a dim of {label} {old} -> {d.dim_value}"
    if len(dims) and rng.random() < 0.5:
        del dims[rng.randrange(len(dims))]
        return f"drop a dim of {label}"
    tt.shape.dim.add().dim_value = rng.choice([1, 2, 0])
    return f"add a dim to {label}"


def op_rewire(rng: random.Random, model: ModelProto) -> str:
    choices = [(g, node, k, where) for g, where in graphs(model) for node in g.node for k in range(len(node.input))]
    g, node, k, where = rng.choice(choices)
    pool = sorted(
        {v.name for v in g.input} | {t.name for t in g.initializer} | {o for n in g.node for o in n.output} | {""}
    )
    old = node.input[k]
    node.input[k] = rng.choice(pool)
    return f"rewire input {k} of node '{node.name}' ({node.op_type}) in {where} '{old}' -> '{node.input[k]}'"


def op_duplicate_name(rng: random.Random, model: ModelProto) -> str:
    """Two producers of one name (an SSA violation), or an output listed twice."""
    g, where = rng.choice([gw for gw in graphs(model) if len(gw[0].node) >= 2])
    a, b = rng.sample(range(len(g.node)), 2)
    if rng.random() < 0.5 and g.output:
        g.output.add().CopyFrom(rng.choice(list(g.output)))
        return f"list graph output '{g.output[-1].name}' of {where} twice"
    old = g.node[b].output[0]
    g.node[b].output[0] = g.node[a].output[0]
    return f"node '{g.node[b].name}' in {where} now also produces '{g.node[a].output[0]}' (was '{old}')"


# --- renames: keep the model valid, reach the code generator
def _rename(model: ModelProto, old: str, rng: random.Random, what: str) -> str:
    new = _fresh(model, hostile_name(rng, allow_empty=False))
    rename_value(model, old, new)
    return f"rename {what} {old!r} -> {new!r}"


def op_rename_output(rng: random.Random, model: ModelProto) -> str:
    return _rename(model, rng.choice(model.graph.output).name, rng, "graph output")


def op_rename_input(rng: random.Random, model: ModelProto) -> str:
    return _rename(model, rng.choice(model.graph.input).name, rng, "graph input")


def op_rename_value(rng: random.Random, model: ModelProto) -> str:
    """An intermediate value or initializer, in the main graph or a subgraph (Scan body inputs/outputs too)."""
    g, where = rng.choice(graphs(model))
    outer = {v.name for v in (*model.graph.input, *model.graph.output)}
    names = sorted(
        (
            {o for n in g.node for o in n.output}
            | {t.name for t in g.initializer}
            | {v.name for v in (*g.input, *g.output)}
        )
        - outer
        - {""}
    )
    if not names:
        return op_rename_output(rng, model)
    return _rename(model, rng.choice(names), rng, f"value in {where}")


def op_rename_node(rng: random.Random, model: ModelProto) -> str:
    """A node (Scan nodes name the generated functions), or the name of a graph."""
    if rng.random() < 0.15:
        g, where = rng.choice(graphs(model))
        old, g.name = g.name, hostile_name(rng, allow_empty=False)  # ONNX requires a graph name
        return f"rename {where} {old!r} -> {g.name!r}"
    scans = [(g, i, w) for g, i, w in all_nodes(model) if g.node[i].op_type in ("Scan", "QuantLSTMCell")]
    g, i, where = rng.choice(scans if scans and rng.random() < 0.6 else all_nodes(model))
    node = g.node[i]
    taken = {n.name for gg, _ in graphs(model) for n in gg.node}
    new = hostile_name(rng)
    while new in taken and new:
        new += "~"
    old, node.name = node.name, new
    return f"rename node {old!r} ({node.op_type}) in {where} -> {new!r}"


def op_rename_colliding(rng: random.Random, model: ModelProto) -> str:
    """Two values renamed to distinct names that collide once sanitised into identifiers (or with a name the
    generated code uses)."""
    ports = [v.name for v in (*model.graph.input, *model.graph.output)]
    a, b = rng.choice(COLLIDING)
    if a == "":
        a = "\t"
    first, second = rng.sample(ports, 2) if len(ports) >= 2 else (ports[0], None)
    a, b = _fresh(model, a), b
    rename_value(model, first, a)
    if second is None:
        return f"rename {first!r} -> {a!r}"
    b = _fresh(model, b)
    rename_value(model, second, b)
    return f"rename {first!r} -> {a!r} and {second!r} -> {b!r}"


def op_havoc(rng: random.Random, model: ModelProto) -> str:
    """Two to four of the model-level operators above, one after the other (renames included)."""
    ops = [op for op in OPERATORS.values() if not op.on_bytes and op.name != "havoc"]
    done = []
    for _ in range(rng.choice([2, 3, 4])):
        op = rng.choice(ops)
        try:
            done.append(f"{op.name}: {op.fn(rng, model)}")
        except Exception as e:  # noqa: BLE001 - an earlier step left nothing this one applies to
            done.append(f"{op.name}: skipped ({type(e).__name__})")
    return "; ".join(done)


# --- bytes
def op_truncate(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    n = len(data)
    cut = rng.choice([0, 1, 2, n // 2, n - 1, rng.randrange(n), rng.randrange(n), rng.randrange(n)])
    return data[:cut], f"truncate {n} bytes to {cut}"


def op_flip_bits(rng: random.Random, data: bytes) -> tuple[bytes, str]:
    buf = bytearray(data)
    count = rng.choice([1, 1, 2, 4, 8, 32])
    where = sorted(rng.randrange(len(buf) * 8) for _ in range(count))
    for bit in where:
        buf[bit // 8] ^= 1 << (bit % 8)
    return bytes(buf), f"flip {count} bit(s) at {where[:8]}{'...' if count > 8 else ''}"


# ------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Operator:
    name: str
    fn: Callable
    on_bytes: bool = False
    keeps_valid: bool = False  # the mutant is meant to stay a valid ONNX model (renames)


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator("delete_node", op_delete_node),
        Operator("drop_initializer", op_drop_initializer),
        Operator("rewire", op_rewire),
        Operator("duplicate_name", op_duplicate_name),
        Operator("tensor_dtype", op_tensor_dtype),
        Operator("tensor_shape", op_tensor_shape),
        Operator("tensor_values", op_tensor_values),
        Operator("attribute", op_attribute),
        Operator("opset", op_opset),
        Operator("io_type", op_io_type),
        Operator("rename_output", op_rename_output, keeps_valid=True),
        Operator("rename_input", op_rename_input, keeps_valid=True),
        Operator("rename_value", op_rename_value, keeps_valid=True),
        Operator("rename_node", op_rename_node, keeps_valid=True),
        Operator("rename_colliding", op_rename_colliding, keeps_valid=True),
        Operator("havoc", op_havoc),
        Operator("truncate", op_truncate, on_bytes=True),
        Operator("flip_bits", op_flip_bits, on_bytes=True),
    ]
}


@dataclass(frozen=True)
class Mutant:
    source: str  # label of the model mutated (a fixture path)
    operator: str
    seed: int
    description: str
    data: bytes  # the serialized mutant
    keeps_valid: bool

    @property
    def label(self) -> str:
        return f"{self.operator} seed {self.seed} on {self.source}: {self.description}"


def mutate(data: bytes, operator: str, seed: int, source: str = "") -> Mutant:
    """Apply one operator to a serialized model, deterministically in (source, operator, seed)."""
    op = OPERATORS[operator]
    rng = random.Random(f"{seed}:{operator}:{source}")
    if op.on_bytes:
        out, description = op.fn(rng, data)
    else:
        model = ModelProto.FromString(data)
        description = op.fn(rng, model)
        out = model.SerializeToString()
    return Mutant(source, operator, seed, description, out, op.keeps_valid)


def plan(sources: Sequence[str], count: int, seed: int = 0) -> Iterator[tuple[str, str, int]]:
    """`count` (source, operator, seed) triples: operators round-robin, sources drawn by a seeded rng."""
    rng = random.Random(f"plan:{seed}")
    names = list(OPERATORS)
    for k in range(count):
        yield rng.choice(list(sources)), names[k % len(names)], seed * 1_000_003 + k


def exploit_names(command: str = f"touch {CANARY}") -> list[str]:
    """Output names that run `command` if pasted raw into the generated C++: the testbench printf break-out
    (one line and with newlines), a // comment break-out and a /* */ comment break-out."""
    return [
        f'Y", s, e, v, want); }} if (popen("{command}", "r") && 0) {{ int want = 0; std::printf("',
        f'Y", s, e, v, want); }}\nif (popen("{command}", "r") && 0) {{\nint want = 0; std::printf("',
        f'Y\nstatic FILE *pwned_ = popen("{command}", "r");\n//',
        f'Y */ static FILE *pwned_ = popen("{command}", "r"); /* ',
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstmc.fuzz", description="write one mutant of a model")
    parser.add_argument("model")
    parser.add_argument("operator", choices=list(OPERATORS))
    parser.add_argument("seed", type=int)
    parser.add_argument("--source", help="label the mutant was planned with (default: the model path as given)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    with open(args.model, "rb") as f:
        mutant = mutate(f.read(), args.operator, args.seed, args.source or args.model)
    with open(args.output, "wb") as f:
        f.write(mutant.data)
    print(mutant.label, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
