"""varstore's exceptions: one class per C error code (VS_E*), all under
:class:`Error`. The C library's message is the exception's text."""
from __future__ import annotations

from . import _core

__all__ = [
    "Error", "AlreadyExistsError", "NotFoundError", "ShapeError",
    "DTypeError", "UninitializedError", "InvalidArgumentError",
    "CorruptError", "StorageIOError", "OutOfMemoryError", "BusyError",
    "RestoringError", "ChangedError",
]


class Error(Exception):
    """Base of every varstore error.

    Attributes:
        message: the C library's message (``vs_errmsg()``), as ``str(e)``.
        code: the C code (``VS_E*``, a negative int).
    """

    def __init__(self, message: str, code: int = _core.VS_ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return self.message


class AlreadyExistsError(Error):
    """VS_EEXIST: e.g. a rename whose new name is taken."""


class NotFoundError(Error, KeyError):
    """VS_ENOTFOUND: no such step, tensor name or file. Also a KeyError."""


class ShapeError(Error, ValueError):
    """VS_ESHAPE: shapes do not match. Also a ValueError."""


class DTypeError(Error, TypeError):
    """VS_EDTYPE: a dtype varstore does not store. Also a TypeError."""


class UninitializedError(Error):
    """VS_EUNINIT: a value was used before it was set."""


class InvalidArgumentError(Error, ValueError):
    """VS_EINVAL: a bad argument. Also a ValueError."""


class CorruptError(Error):
    """VS_ECORRUPT: the file is damaged (a CRC mismatch, a truncated file,
    an inconsistent catalogue).

    Attributes:
        n_bad: from :meth:`varstore.File.verify`, how many tensors are
            damaged (None elsewhere).
    """

    n_bad: int | None = None


class StorageIOError(Error):
    """VS_EIO: the operating system failed a read or a write."""


class OutOfMemoryError(Error, MemoryError):
    """VS_ENOMEM: an allocation failed."""


class BusyError(Error):
    """VS_EBUSY: another connection held the file past the busy timeout."""


class RestoringError(Error):
    """VS_ERESTORING: a variable being restored in place was used."""


class ChangedError(Error):
    """VS_ECHANGED: the checkpoint being read was deleted or replaced by
    another connection while it was read (rollback-journal files, whose
    readers read in short transactions). Read it again, or another step."""


_BY_CODE = {
    _core.VS_ERROR: Error,
    _core.VS_EEXIST: AlreadyExistsError,
    _core.VS_ENOTFOUND: NotFoundError,
    _core.VS_ESHAPE: ShapeError,
    _core.VS_EDTYPE: DTypeError,
    _core.VS_EUNINIT: UninitializedError,
    _core.VS_EINVAL: InvalidArgumentError,
    _core.VS_ECORRUPT: CorruptError,
    _core.VS_EIO: StorageIOError,
    _core.VS_ENOMEM: OutOfMemoryError,
    _core.VS_EBUSY: BusyError,
    _core.VS_ERESTORING: RestoringError,
    _core.VS_ECHANGED: ChangedError,
}
_core._set_error_classes(_BY_CODE)
for _cls in set(_BY_CODE.values()):
    _cls.__module__ = "varstore"  # shown as varstore.NotFoundError
