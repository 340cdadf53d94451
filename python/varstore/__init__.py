"""varstore: many checkpoints of named tensors in one SQLite file.

A thin binding of the varstore C library (the one implementation of the
file format): compressed, CRC-checked, deduplicated chunks; files written
here are read by the ``varstore`` command and the C API, and back.

    >>> import numpy as np, varstore
    >>> w = {"dense/kernel": np.ones((2, 3), np.float32)}
    >>> varstore.save("model.db", w, step=1)
    1
    >>> varstore.load("model.db")["dense/kernel"].shape
    (2, 3)

:func:`save`, :func:`load`, :class:`File`, :class:`AsyncSaver`
(saves in the background); PyTorch state dicts in
:mod:`varstore.torch`; errors are :class:`Error` subclasses.
"""
from __future__ import annotations

from . import _core
from ._api import KEEP_ALL, CheckpointInfo, TensorInfo, load, save
from ._async import AsyncSaver
from ._errors import (AlreadyExistsError, BusyError, ChangedError,
                      CorruptError,
                      DTypeError, Error, InvalidArgumentError,
                      NotFoundError, OutOfMemoryError, RestoringError,
                      ShapeError, StorageIOError, UninitializedError)
from ._file import File

__version__ = "0.1.0"
#: The version of the C library compiled into this package.
c_library_version: str = _core.version()

__all__ = [
    "save", "load", "File", "AsyncSaver", "CheckpointInfo", "TensorInfo",
    "KEEP_ALL", "Error", "AlreadyExistsError", "BusyError", "ChangedError",
    "CorruptError",
    "DTypeError", "InvalidArgumentError", "NotFoundError",
    "OutOfMemoryError", "RestoringError", "ShapeError", "StorageIOError",
    "UninitializedError", "c_library_version",
]
