"""save, load and File: the Python API over varstore._core. Private:
import these from ``varstore``."""
from __future__ import annotations

import math
import numbers
import os
from typing import (Any, Callable, Dict, Iterable, List, Mapping,
                    NamedTuple, Optional, Sequence, Tuple, Union)

import numpy as np

from . import _convert, _core
from ._errors import (CorruptError, Error, InvalidArgumentError,
                      NotFoundError, OutOfMemoryError)

PathLike = Union[str, "os.PathLike[str]"]
Progress = Callable[[int, int], Any]

KEEP_ALL = _core.VS_KEEP_ALL
"""``max_to_keep=KEEP_ALL``: keep every checkpoint, whatever the file's
retention setting says."""

_CODECS = {"default": 0, "raw": 1}


class CheckpointInfo(NamedTuple):
    """One checkpoint of a file (a row of :attr:`File.checkpoints`)."""

    step: int
    created_at: str  #: ISO-8601 UTC
    n_tensors: int
    raw_bytes: int  #: sum of the tensors' sizes
    stored_bytes: int  #: sum of their stored (compressed) chunk sizes


class TensorInfo(NamedTuple):
    """One tensor of a checkpoint (a row of :meth:`File.tensors`).

    ``min``, ``max``, ``mean``, ``std``, ``n_nan`` and ``n_inf`` are the
    statistics stored with floating-point tensors (over the finite
    values); None for the other dtypes. ``pandas.DataFrame(rows)`` makes
    a table of a list of them."""

    name: str
    dtype: str
    shape: Tuple[int, ...]
    numel: int
    raw_bytes: int
    stored_bytes: int
    codec: str
    crc32: int
    min: Optional[float]
    max: Optional[float]
    mean: Optional[float]
    std: Optional[float]
    n_nan: Optional[int]
    n_inf: Optional[int]


def _tensor_info(row: tuple) -> TensorInfo:
    return TensorInfo(*row[:8], *row[8])


# The largest value of the C types the library takes: int64_t (steps) and
# int (counts, levels, threads).
_INT64_MAX = 2**63 - 1
_INT_MAX = 2**31 - 1


def _as_int(name: str, value: Any) -> int:
    """value as an int: a Python int or a NumPy integer, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgumentError(
            f"{name} must be an int, got {type(value).__name__}")
    return int(value)


def _int_arg(name: str, value: Any, low: int,
             high: int = _INT64_MAX) -> int:
    value = _as_int(name, value)
    if value < low:
        raise InvalidArgumentError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise InvalidArgumentError(f"{name} must be <= {high}, got {value}")
    return value


def _hours_arg(name: str, value: Any) -> float:
    """A number of hours: a finite real >= 0 (None: 0), not a bool or a
    str."""
    if value is None:
        return 0.0
    if isinstance(value, (bool, np.bool_)) or \
            not isinstance(value, numbers.Real):
        raise InvalidArgumentError(
            f"{name} must be a real number or None, got "
            f"{type(value).__name__}")
    try:
        hours = float(value)
    except OverflowError:  # an int beyond a double
        hours = math.inf
    if not math.isfinite(hours) or hours < 0:
        raise InvalidArgumentError(
            f"{name} must be finite and >= 0, got {value!r}")
    return hours


def fspath(path: PathLike) -> Any:
    """os.fspath(path) (str or bytes), refusing a NUL: the C library's
    paths end at one."""
    p = os.fspath(path)
    if ("\0" if isinstance(p, str) else b"\0") in p:
        raise InvalidArgumentError(f"path {p!r} contains a NUL character")
    return p


def _next_step(path: PathLike) -> int:
    if not os.path.exists(path):
        return 0
    with _core.Ckpt(path) as c:
        try:
            latest = c.latest()
        except NotFoundError:
            return 0
    if latest >= _INT64_MAX:
        raise InvalidArgumentError(
            f"step=None: the newest step of {os.fsdecode(path)} is "
            f"{latest}, the largest a step can be; give the step")
    return latest + 1


def _keep_arg(max_to_keep: Optional[int]) -> int:
    if max_to_keep is None:
        return 0
    if _as_int("max_to_keep", max_to_keep) == KEEP_ALL:
        return KEEP_ALL
    return _int_arg("max_to_keep", max_to_keep, 1, _INT_MAX)


def save(path: PathLike, tensors: Mapping[str, Any],
         step: Optional[int] = None, *, codec: str = "default",
         level: int = 0, threads: int = 0,
         max_to_keep: Optional[int] = None,
         progress: Optional[Progress] = None) -> int:
    """Saves named tensors as checkpoint ``step`` of the file at ``path``.

    The file is created if missing. One transaction: when this returns,
    the checkpoint is durable; on an error nothing is written. Chunks
    equal to ones already in the file are stored once, so saving a model
    of which few tensors changed adds little to the file.

    Args:
        path: the checkpoint file (an SQLite database).
        tensors: ``{name: tensor}``; a name is a checkpoint key such as
            ``"conv1/weights"``. Tensors are NumPy arrays, PyTorch tensors
            (also on GPU, bfloat16, float16, bool; non-contiguous ones are
            made contiguous) or anything ``numpy.asarray`` takes (buffer
            protocol, ``__array__``, nested lists, Python scalars);
            ``bytes`` and ``bytearray`` are saved as ``memoryview`` of
            them is, as a 1-D uint8 tensor of their bytes. A NumPy masked
            array, also inside a list, is refused (InvalidArgumentError:
            its mask would be lost; pass ``arr.filled(value)`` or
            ``np.asarray(arr)``). Bool tensors are stored as bytes 0 and
            1, whatever nonzero byte the array holds for True.
            dtypes: float32, float64, float16, bfloat16 (torch, or
            ``ml_dtypes.bfloat16`` arrays), int8, uint8, int32, int64,
            bool; at most 8 dimensions; 0-d and empty tensors are fine.
        step: the checkpoint's step (an int >= 0; Python ints and NumPy
            integers are taken wherever an int is); None: one after the
            newest in the file (0 for a new file), read just before the
            save, so processes saving into one file at once should give
            steps (InvalidArgumentError if the newest is already the
            largest int64). Saving an existing step replaces it.
        codec: ``"default"`` (byte shuffle + zlib where it pays) or
            ``"raw"`` (stored as is: bigger, fastest).
        level: zlib level 1-9; 0: the library's measured default.
        threads: compression threads; 0: all cores (the calling thread
            alone for a save of at most 1 MiB, 16 MiB with codec "raw").
        max_to_keep: after the save, keep only the newest N checkpoints;
            :data:`KEEP_ALL`: keep every one; None: the file's setting
            (a new file keeps everything).
        progress: ``progress(done_bytes, total_bytes)``, called on this
            thread while the save runs (at most about once per MiB, and
            once at the end with ``done == total``). With tqdm::

                from tqdm import tqdm
                with tqdm(unit="B", unit_scale=True) as bar:
                    def progress(done, total):
                        bar.total = total
                        bar.update(done - bar.n)
                    varstore.save("model.db", tensors, step=1,
                                  progress=progress)

            An exception it raises stops further calls and is raised once
            the save returns (the checkpoint is then already committed).
            It must not read the file being saved: a big save may hold
            the file until its last call, and the read would wait.

    Returns:
        The step saved.

    Raises:
        InvalidArgumentError, DTypeError: bad arguments or tensors.
        BusyError: another writer held the file past the busy timeout.
        CorruptError: the file is damaged.
        InvalidArgumentError: ``path`` is not a varstore checkpoint file.

    The GIL is released while the library encodes and writes.
    """
    args = save_args(path, tensors, step, codec, level, threads,
                     max_to_keep, progress)
    _core.save(*args)
    return args[1]


def save_args(path: PathLike, tensors: Mapping[str, Any],
              step: Optional[int], codec: str, level: int, threads: int,
              max_to_keep: Optional[int],
              progress: Optional[Progress]) -> tuple:
    """The checked arguments of :func:`save` as ``_core.save`` takes them
    (the step resolved, the tensors as byte buffers)."""
    if not isinstance(codec, str) or codec not in _CODECS:
        raise InvalidArgumentError(
            f'codec must be "default" or "raw", got {codec!r}')
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            "tensors must be a mapping {name: tensor}, got "
            f"{type(tensors).__name__}")
    level = _int_arg("level", level, 0, _INT_MAX)
    threads = _int_arg("threads", threads, 0, _INT_MAX)
    keep = _keep_arg(max_to_keep)
    if progress is not None and not callable(progress):
        raise InvalidArgumentError("progress must be callable or None")
    path = fspath(path)
    step = _next_step(path) if step is None else _int_arg("step", step, 0)
    items = list(tensors.items())  # one pass: names pair with their data
    prepared = [_convert.prepare(k, v) for k, v in items]
    return (path, step, tuple(k for k, _ in items),
            tuple(p[0] for p in prepared), tuple(p[1] for p in prepared),
            tuple(p[2] for p in prepared), _CODECS[codec], level, threads,
            keep, progress)


def _resolve(infos: Dict[str, TensorInfo], name: str) -> Optional[TensorInfo]:
    """The tensor a name reads, by the library's rule: a trailing ":0" is
    dropped unless a tensor is stored under that very key."""
    if name in infos:
        return infos[name]
    if name.endswith(":0"):
        return infos.get(name[:-2])
    return None


def _allocate(info: TensorInfo, framework: str) -> Any:
    """The result array of one tensor, after checking that its catalogue
    row adds up (the library checks the row against the chunks when it
    streams; the allocation comes first)."""
    numel = 1
    for d in info.shape:
        numel *= d
    itemsize = _convert.itemsize(info.dtype)
    if numel != info.numel or numel * itemsize != info.raw_bytes:
        raise CorruptError(
            f"tensor {info.name}: shape {list(info.shape)}, numel "
            f"{info.numel} and raw_bytes {info.raw_bytes} do not agree",
            _core.VS_ECORRUPT)
    try:
        return _convert.empty(info.dtype, info.shape, framework)
    except (MemoryError, RuntimeError, ValueError) as e:
        # a huge tensor, a damaged catalogue, or an empty tensor whose
        # other dimensions NumPy cannot index (ValueError; torch raises
        # RuntimeError)
        raise OutOfMemoryError(
            f"tensor {info.name}: cannot allocate {info.raw_bytes} bytes "
            f"for shape {list(info.shape)}: {e}", _core.VS_ENOMEM) from e


def _check_names(names: Iterable[Any]) -> None:
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgumentError(
                f"names must be str, got {type(name).__name__}")
        if not name:  # no tensor has one
            raise InvalidArgumentError("names must not be empty strings")


def _read(c: Any, step: int, names: Optional[Sequence[str]],
          framework: str, threads: int,
          progress: Optional[Progress] = None) -> Dict[str, Any]:
    infos = {t.name: t for t in map(_tensor_info, c.list(step))}
    if names is None:
        names = list(infos)
    _check_names(names)
    wanted: List[Tuple[str, TensorInfo]] = []
    seen = set()
    for name in names:
        if name in seen:
            continue  # asked twice: read once
        seen.add(name)
        info = _resolve(infos, name)
        if info is None:  # the library's own error ("Key ... not found")
            c.stream(step, (name,), (bytearray(),), 1)
            raise NotFoundError(f"Key {name} not found in checkpoint")
        wanted.append((name, info))
    try:
        out = {n: _allocate(i, framework) for n, i in wanted}
    except OutOfMemoryError:
        _diagnose(c, step, wanted)
        raise
    c.stream(step, tuple(i.name for _, i in wanted),
             tuple(_convert.byte_view(out[n]) for n, _ in wanted), threads,
             progress)
    return out


def _diagnose(c: Any, step: Optional[int],
              wanted: List[Tuple[str, TensorInfo]]) -> None:
    """After an allocation failed: a damaged file may declare a size no
    chunk row backs. Before it sizes anything by a large read's rows, the
    library checks them against the chunks; a read into empty buffers
    raises its CorruptError naming the tensor (else the size mismatch,
    which is ignored: the tensor is real and too large)."""
    try:
        c.stream(step, tuple(i.name for _, i in wanted),
                 tuple(bytearray() for _ in wanted), 1)
    except CorruptError:
        raise
    except (Error, ValueError):
        pass


def _resolve_step(c: Any, step: Optional[int]) -> int:
    return c.latest() if step is None else _int_arg("step", step, 0)


def _load_tf(path: str, step: Optional[int], names: Optional[List[str]],
             framework: str, progress: Optional[Progress]) -> Dict[str, Any]:
    """load() of a TensorFlow checkpoint: one step (None, or the number at
    the end of its prefix); each tensor read whole by the library's TF
    reader (CRC32C checked, partitioned slices assembled)."""
    rows = {name: (dtype, tuple(shape))
            for name, dtype, shape in _core.tf_tensors(path)}
    keys: Dict[str, str] = {}  # name asked -> key read, each once
    for name in sorted(rows) if names is None else names:
        key = name[:-2] if name not in rows and name.endswith(":0") else name
        if key not in rows:
            raise NotFoundError(f"Key {key} not found in checkpoint",
                                _core.VS_ENOTFOUND)
        keys[name] = key
    out: Dict[str, Any] = {}
    total = sum(_convert.itemsize(rows[k][0]) * _numel(rows[k][1])
                for k in keys.values())
    done = 0
    for name, key in keys.items():
        dtype, shape = rows[key]
        result = _convert.empty(dtype, shape, framework)
        _core.tf_load_into(path, step, key, _convert.byte_view(result))
        out[name] = result
        done += _convert.itemsize(dtype) * _numel(shape)
        if progress is not None:
            progress(done, total)
    return out


def _numel(shape: Tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def load(path: PathLike, step: Optional[int] = None,
         names: Optional[Iterable[str]] = None, *,
         framework: str = "numpy", threads: int = 0,
         progress: Optional[Progress] = None) -> Dict[str, Any]:
    """Reads tensors of a checkpoint into new arrays.

    Each tensor is decoded by the library's threads straight into the
    memory of the array returned (no intermediate whole-tensor copy),
    with every chunk's CRC checked; the GIL is released meanwhile. All
    tensors come from one consistent snapshot of the file, even while
    another process saves into it.

    Args:
        path: the checkpoint file.
        step: the checkpoint; None: the newest.
        names: the tensors to read (a trailing ``":0"`` is accepted);
            None: all of them.
        framework: ``"numpy"`` (``numpy.ndarray``) or ``"torch"`` (CPU
            ``torch.Tensor``).
        threads: decoding threads; 0: all cores (without progress, the
            calling thread alone for a load of at most 8 MiB).
        progress: ``progress(done_bytes, total_bytes)``, called on this
            thread each time a tensor is complete (the last call has
            ``done == total``); tqdm fits as in :func:`save`. An
            exception it raises stops the load and is raised.

    Returns:
        ``{name: array}``, in the order of ``names`` (else sorted by name).

    bfloat16 and NumPy: NumPy has no bfloat16. With ``framework="numpy"``
    a bfloat16 tensor comes back as an ``ml_dtypes.bfloat16`` array when
    the ml_dtypes package is importable (it comes with TensorFlow and
    JAX), else as a ``numpy.uint16`` array of its raw bits (``x.view(
    ml_dtypes.bfloat16)`` later, or ``torch.from_numpy(x).view(
    torch.bfloat16)``). ``framework="torch"`` gives ``torch.bfloat16``.

    Raises:
        NotFoundError: no such file, step or tensor (also a KeyError).
        CorruptError: damage (a CRC mismatch, truncation).
        InvalidArgumentError: ``path`` is not a varstore checkpoint file.
    """
    _convert.check_framework(framework)
    threads = _int_arg("threads", threads, 0, _INT_MAX)
    if progress is not None and not callable(progress):
        raise InvalidArgumentError("progress must be callable or None")
    if isinstance(names, (str, bytes)):
        raise InvalidArgumentError(
            "names must be a list of names (one name: names=[name])")
    if names is not None:
        try:
            names = list(names)
        except TypeError as e:  # not iterable
            raise InvalidArgumentError(
                "names must be a list of names or None, got "
                f"{type(names).__name__}") from e
        _check_names(names)
    if step is not None:
        step = _int_arg("step", step, 0)
    path = fspath(path)
    if _core.tf_is_checkpoint(path):
        return _load_tf(path, step, names, framework, progress)
    with _core.Ckpt(path) as c:
        return _read(c, _resolve_step(c, step), names, framework, threads,
                     progress)
