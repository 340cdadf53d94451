"""varstore.File: one checkpoint file, its checkpoints and tensors.
Private: import it from ``varstore``."""
from __future__ import annotations

from typing import Any, List, Optional

from . import _core
from ._api import (_INT_MAX, CheckpointInfo, PathLike, Progress, TensorInfo,
                   _hours_arg, _int_arg, _read, _resolve_step, _tensor_info,
                   fspath)
from ._convert import check_framework
from ._errors import CorruptError, InvalidArgumentError, NotFoundError


class File:
    """A checkpoint file, to look into and maintain.

    ``File(path)`` checks that ``path`` is a varstore checkpoint file
    (NotFoundError if missing, InvalidArgumentError if it is not one,
    CorruptError if damaged). Every method and
    property then reads the file as it is at that call (each opens its own
    short read, so a save by another process in between is seen by the next
    call; one call is always one consistent snapshot). Use it as a context
    manager, or call :meth:`close`; a closed File raises ValueError.

    Example::

        with varstore.File("model.db") as f:
            print(f.steps, f.latest)
            rows = f.tensors()          # pandas.DataFrame(rows) for a table
            w = f.load("conv1/weights")  # one tensor, the rest unread
            f.prune(keep=3)
    """

    def __init__(self, path: PathLike) -> None:
        self._path: Optional[str] = fspath(path)
        with _core.Ckpt(self._path):
            pass

    @property
    def path(self) -> str:
        """The file's path."""
        return self._live()

    def _live(self) -> str:
        if self._path is None:
            raise ValueError("I/O operation on a closed varstore.File")
        return self._path

    def close(self) -> None:
        """Marks the File closed (it holds no open handle between calls)."""
        self._path = None

    @property
    def closed(self) -> bool:
        """True once :meth:`close` was called."""
        return self._path is None

    def __enter__(self) -> "File":
        self._live()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._path is None else repr(self._path)
        return f"varstore.File({state})"

    @property
    def checkpoints(self) -> List[CheckpointInfo]:
        """Every checkpoint, oldest step first."""
        return [CheckpointInfo(*r)
                for r in _core.list_checkpoints(self._live())]

    @property
    def steps(self) -> List[int]:
        """The steps of the checkpoints, ascending."""
        return [c.step for c in self.checkpoints]

    @property
    def latest(self) -> Optional[int]:
        """The newest step; None when the file has no checkpoint."""
        with _core.Ckpt(self._live()) as c:
            try:
                return int(c.latest())
            except NotFoundError:
                return None

    def tensors(self, step: Optional[int] = None) -> List[TensorInfo]:
        """The tensors of checkpoint ``step`` (None: the newest), sorted
        by name: name, dtype, shape, numel, raw_bytes, stored_bytes,
        codec, crc32 and, for floating-point tensors, min, max, mean,
        std, n_nan, n_inf. NotFoundError if there is no such step."""
        with _core.Ckpt(self._live()) as c:
            return [_tensor_info(r) for r in c.list(_resolve_step(c, step))]

    def load(self, name: str, step: Optional[int] = None, *,
             framework: str = "numpy", threads: int = 0) -> Any:
        """One tensor of checkpoint ``step`` (None: the newest), read
        without touching the others; see :func:`varstore.load` for
        ``framework`` and bfloat16. NotFoundError (a KeyError) if missing."""
        check_framework(framework)
        threads = _int_arg("threads", threads, 0, _INT_MAX)
        with _core.Ckpt(self._live()) as c:
            return _read(c, _resolve_step(c, step), [name], framework,
                         threads)[name]

    def delete(self, step: int) -> None:
        """Deletes checkpoint ``step``; chunks no other checkpoint uses are
        freed. NotFoundError if there is no such step."""
        _core.delete(self._live(), _int_arg("step", step, 0))

    def prune(self, keep: int) -> None:
        """Keeps the newest ``keep`` (>= 1) checkpoints, deletes the rest."""
        _core.prune(self._live(), _int_arg("keep", keep, 1, _INT_MAX))

    def verify(self, *, threads: int = 0,
               progress: Optional[Progress] = None) -> None:
        """Checks the schema and every stored chunk's CRC.

        Returns None when the file is sound. Raises CorruptError naming the
        first damaged tensor and its step, with ``n_bad`` the number of
        damaged tensors. ``progress(done, total)`` as in
        :func:`varstore.save`, over the stored chunks' bytes."""
        threads = _int_arg("threads", threads, 0, _INT_MAX)
        if progress is not None and not callable(progress):
            raise InvalidArgumentError("progress must be callable or None")
        n_bad, message = _core.verify(self._live(), threads, progress)
        if message is not None:
            err = CorruptError(message, _core.VS_ECORRUPT)
            err.n_bad = n_bad
            raise err

    def rename(self, old_prefix: str, new_prefix: str,
               step: Optional[int] = None) -> None:
        """Renames every tensor whose name starts with ``old_prefix`` to
        start with ``new_prefix`` instead, in checkpoint ``step`` or (None)
        in all of them, in one transaction. AlreadyExistsError if a new
        name is taken; nothing changes then."""
        for what, prefix in (("old_prefix", old_prefix),
                             ("new_prefix", new_prefix)):
            if not isinstance(prefix, str):
                raise InvalidArgumentError(
                    f"{what} must be a str, got {type(prefix).__name__}")
        if step is not None:
            step = _int_arg("step", step, 0)
        _core.rename(self._live(), old_prefix, new_prefix, step)

    def set_retention(self, max_to_keep: int,
                      keep_checkpoint_every_n_hours: Optional[float] = 0.0
                      ) -> None:
        """The file's retention, used by saves that leave ``max_to_keep``
        None: keep the newest ``max_to_keep`` (an int >= 0; 0: all) and,
        beyond them, one every ``keep_checkpoint_every_n_hours`` hours (a
        finite real >= 0; 0 or None: none), as TensorFlow's Saver.
        InvalidArgumentError for anything else (a bool, a str, NaN, inf,
        a negative number)."""
        keep = _int_arg("max_to_keep", max_to_keep, 0, _INT_MAX)
        hours = _hours_arg("keep_checkpoint_every_n_hours",
                           keep_checkpoint_every_n_hours)
        _core.set_retention(self._live(), keep, hours)
