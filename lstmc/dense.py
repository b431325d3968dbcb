"""numpy <-> dense elements attributes, through raw bytes (never Python lists: 1M elements would take seconds)."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import (
    BytesAttr,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    IntegerType,
    Signedness,
    TensorType,
    f32,
    f64,
)

_INT_TYPES = {8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}


def element_type_for(dtype: np.dtype):
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return f32
    if dtype == np.float64:
        return f64
    if dtype.kind in "iu" and dtype.itemsize * 8 in _INT_TYPES:
        return IntegerType(dtype.itemsize * 8)
    if dtype == np.bool_:
        return IntegerType(1)
    raise TypeError(f"no MLIR element type for numpy dtype {dtype}")


def numpy_dtype_for(element_type) -> np.dtype:
    if isinstance(element_type, Float32Type):
        return np.dtype("<f4")
    if isinstance(element_type, Float64Type):
        return np.dtype("<f8")
    if isinstance(element_type, IntegerType):
        # xDSL stores an iN element in the smallest of 1, 2, 4, 8 bytes that holds N bits (si4 -> int8).
        width = element_type.width.data
        storage = next((w for w in sorted(_INT_TYPES) if width <= w), None)
        if storage is not None:
            signed = element_type.signedness.data != Signedness.UNSIGNED
            return np.dtype(_INT_TYPES[storage]) if signed else np.dtype(f"<u{storage // 8}")
    raise TypeError(f"no numpy dtype for element type {element_type}")


def dense_from_array(array: np.ndarray, element_type=None) -> DenseIntOrFPElementsAttr:
    array = np.asarray(array)
    element_type = element_type or element_type_for(array.dtype)
    data = np.ascontiguousarray(array, dtype=numpy_dtype_for(element_type)).tobytes()
    return DenseIntOrFPElementsAttr(TensorType(element_type, array.shape), BytesAttr(data))


def array_from_dense(attr: DenseIntOrFPElementsAttr) -> np.ndarray:
    shape = tuple(attr.get_shape())
    dtype = numpy_dtype_for(attr.get_element_type())
    flat = np.frombuffer(attr.data.data, dtype=dtype)
    if flat.size == 1 and int(np.prod(shape)) != 1:  # splat
        return np.broadcast_to(flat, shape).copy()
    return flat.reshape(shape)
