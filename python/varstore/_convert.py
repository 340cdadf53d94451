"""Tensors in and out: NumPy arrays, PyTorch tensors and array-likes as
C-contiguous little-endian byte views the C library reads or fills in
place. Private."""
from __future__ import annotations

import sys
from typing import Any, Tuple

import numpy as np

from ._core import VS_ENOMEM
from ._errors import DTypeError, InvalidArgumentError, OutOfMemoryError

try:  # NumPy has no bfloat16; ml_dtypes (from JAX/TensorFlow) adds one.
    import ml_dtypes as _ml_dtypes

    BFLOAT16: Any = np.dtype(_ml_dtypes.bfloat16)
except ImportError:  # pragma: no cover - depends on the environment
    BFLOAT16 = None

MAX_DIMS = 8

_NUMPY_NAMES = {
    np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
    np.dtype(np.float16): "float16", np.dtype(np.int8): "int8",
    np.dtype(np.uint8): "uint8", np.dtype(np.int32): "int32",
    np.dtype(np.int64): "int64", np.dtype(np.bool_): "bool",
}
if BFLOAT16 is not None:
    _NUMPY_NAMES[BFLOAT16] = "bfloat16"
_NUMPY_BY_NAME = {v: k for k, v in _NUMPY_NAMES.items()}
if BFLOAT16 is None:
    _NUMPY_BY_NAME["bfloat16"] = np.dtype(np.uint16)  # raw bits

SUPPORTED = ("float32, float64, float16, bfloat16, int8, uint8, int32, "
             "int64, bool")

# (varstore dtype name, shape, flat uint8 view of the bytes; the view keeps
# the array, or the torch tensor, it was made from alive)
Prepared = Tuple[str, Tuple[int, ...], np.ndarray]


def _is_torch(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _torch_names() -> dict:
    import torch

    return {torch.float32: "float32", torch.float64: "float64",
            torch.float16: "float16", torch.bfloat16: "bfloat16",
            torch.int8: "int8", torch.uint8: "uint8", torch.int32: "int32",
            torch.int64: "int64", torch.bool: "bool"}


def _check_rank(name: str, shape: Tuple[int, ...]) -> None:
    if len(shape) > MAX_DIMS:
        raise InvalidArgumentError(
            f"tensor {name}: {len(shape)} dimensions, at most {MAX_DIMS} "
            "are supported")


def _from_torch(name: str, t: Any) -> Prepared:
    import torch

    dtype = _torch_names().get(t.dtype)
    if dtype is None:
        raise DTypeError(f"tensor {name}: dtype {t.dtype} is not supported "
                         f"(supported: {SUPPORTED})")
    if t.layout != torch.strided:
        raise InvalidArgumentError(
            f"tensor {name}: layout {t.layout} is not supported (dense "
            "tensors only; call .to_dense())")
    if t.is_nested:
        raise InvalidArgumentError(
            f"tensor {name}: nested tensors are not supported (save each "
            "of its tensors under a name of its own)")
    if t.device.type == "meta":
        raise InvalidArgumentError(
            f"tensor {name}: a tensor on the meta device holds no data")
    _check_rank(name, tuple(t.shape))
    try:
        return dtype, tuple(t.shape), _torch_bytes(t)
    except getattr(torch, "OutOfMemoryError", ()) as e:  # copy to the CPU
        raise OutOfMemoryError(f"tensor {name}: {e}", VS_ENOMEM) from e
    except RuntimeError as e:  # a FakeTensor, a torch.func transform's
        raise InvalidArgumentError(
            f"tensor {name}: its values cannot be read: {e}") from e


def _torch_bytes(t: Any) -> np.ndarray:
    """A flat uint8 view of a dense tensor's bytes, made C-contiguous on
    the CPU first."""
    import torch

    # resolve_*: a view with its conjugate or negative bit set (x.conj().
    # imag is a float32 one) is materialized; numpy() refuses such views
    t = t.detach().resolve_conj().resolve_neg()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous()
    if t.numel() == 0:  # NumPy cannot view every empty shape torch makes
        return np.empty(0, np.uint8)
    bits = t.view(torch.int16) if t.dtype == torch.bfloat16 else t
    arr = bits.numpy()  # shares t's memory
    return arr.reshape(-1).view(np.uint8)


def _holds_masked(x: Any) -> bool:
    """Whether x is, or a list or tuple nested in x holds, a NumPy masked
    array (numpy.asarray keeps its data and drops its mask)."""
    if isinstance(x, np.ma.MaskedArray):
        return True
    todo = [x]
    seen = set()  # a list that holds itself is walked once
    while todo:
        item = todo.pop()
        if not isinstance(item, (list, tuple)) or id(item) in seen:
            continue
        seen.add(id(item))
        types = set(map(type, item))  # one C loop over the elements
        if any(issubclass(t, np.ma.MaskedArray) for t in types):
            return True
        if any(issubclass(t, (list, tuple)) for t in types):
            todo.extend(item)
    return False


def _dtype_hint(x: Any, arr: np.ndarray) -> str:
    """How to make a tensor of an array whose dtype is not supported."""
    if arr.dtype.names is not None:
        return ("; a structured array: save each field under a name of "
                "its own (arr['field'])")
    if arr.dtype.kind == "O":
        return (f"; NumPy reads this {type(x).__name__} as Python objects, "
                "not numbers: give a numeric array")
    if arr.dtype.kind in "US":
        return ("; text: save its encoded bytes instead (a bytes object "
                "is saved as a uint8 tensor)")
    return ""


def _as_array(name: str, x: Any) -> np.ndarray:
    """x as an ndarray of a supported dtype (any byte order or layout),
    refusing what NumPy would read with information lost."""
    if _holds_masked(x):
        raise InvalidArgumentError(
            f"tensor {name}: a numpy masked array, whose mask would be "
            "lost: pass arr.filled(value) to save the masked entries as "
            "value, or np.asarray(arr) to save the data under the mask "
            "as it is (and save the mask, np.ma.getmaskarray(arr), under "
            "a name of its own if it is needed)")
    if isinstance(x, (bytes, bytearray)):  # as memoryview(x): its bytes
        return np.frombuffer(x, np.uint8)
    try:
        arr = np.asarray(x)
    except Exception as e:  # a failing __array__ or buffer export
        raise InvalidArgumentError(
            f"tensor {name}: cannot be read as an array: {e}") from e
    if arr.dtype.newbyteorder("=") not in _NUMPY_NAMES:
        raise DTypeError(f"tensor {name}: dtype {arr.dtype} is not "
                         f"supported (supported: {SUPPORTED})"
                         f"{_dtype_hint(x, arr)}")
    return arr


def _from_array_like(name: str, x: Any) -> Prepared:
    arr = _as_array(name, x)
    dtype = _NUMPY_NAMES[arr.dtype.newbyteorder("=")]
    _check_rank(name, arr.shape)
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.c_contiguous:
        arr = arr.copy(order="C")
    return dtype, arr.shape, arr.reshape(-1).view(np.uint8)


def _canonical_bools(p: Prepared) -> Prepared:
    """A bool tensor's bytes as 0 and 1: NumPy and torch read any other
    byte (a uint8 array viewed as bool) as True, but store it as is, and
    readers of the file (torch's ==, C's bool) misbehave on it."""
    dtype, shape, flat = p
    if dtype == "bool" and flat.size > 0 and flat.max() > 1:
        flat = (flat != 0).view(np.uint8)
    return dtype, shape, flat


def prepare(name: Any, x: Any) -> Prepared:
    """(dtype name, shape, flat uint8 view) of one tensor to save."""
    if not isinstance(name, str):
        raise InvalidArgumentError(
            f"tensor names must be str, got {type(name).__name__}: {name!r}")
    if _is_torch(x):
        return _canonical_bools(_from_torch(name, x))
    return _canonical_bools(_from_array_like(name, x))


def empty(dtype: str, shape: Tuple[int, ...], framework: str) -> Any:
    """An uninitialized result tensor (NumPy array or torch tensor)."""
    if framework == "torch":
        import torch

        by_name = {v: k for k, v in _torch_names().items()}
        return torch.empty(shape, dtype=by_name[dtype])
    return np.empty(shape, dtype=_NUMPY_BY_NAME[dtype])


def itemsize(dtype: str) -> int:
    """Bytes per element of a varstore dtype name."""
    if dtype not in _NUMPY_BY_NAME:
        raise DTypeError(f"dtype {dtype} is not known to this version of "
                         "the varstore package")
    return _NUMPY_BY_NAME[dtype].itemsize


def byte_view(result: Any) -> np.ndarray:
    """A flat writable uint8 view of a tensor made by :func:`empty`."""
    if _is_torch(result):
        import torch

        if result.numel() == 0:  # as in _from_torch
            return np.empty(0, np.uint8)
        if result.dtype == torch.bfloat16:
            result = result.view(torch.int16)
        result = result.numpy()
    return result.reshape(-1).view(np.uint8)


def check_framework(framework: str) -> None:
    if framework not in ("numpy", "torch"):
        raise InvalidArgumentError(
            f'framework must be "numpy" or "torch", got {framework!r}')
    if framework == "torch":
        try:
            import torch  # noqa: F401
        except ImportError as e:
            raise InvalidArgumentError(
                'framework="torch" needs PyTorch, which is not '
                "importable") from e
