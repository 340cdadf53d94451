"""AsyncSaver: saves that return at once and write in the background
(the C library's vs_async_*). Private: import it from ``varstore``."""
from __future__ import annotations

import atexit
import weakref
from types import TracebackType
from typing import Any, List, Mapping, Optional, Type

from . import _core
from ._api import PathLike, Progress, save_args
from ._errors import InvalidArgumentError

# Every saver not yet closed: _close_at_exit closes them while the
# interpreter still runs threads (weak references: a saver dropped sooner
# is closed by its collection).
_open: "weakref.WeakSet[AsyncSaver]" = weakref.WeakSet()


@atexit.register
def _close_at_exit() -> None:
    """Closes the savers left open when the interpreter ends, before it
    finalizes: collected after that, a saver waits for a library thread
    that Python ends as soon as it runs a progress callback (it takes the
    GIL), and that save was lost. Once all are closed, the first error
    is raised (atexit prints it)."""
    errors: List[BaseException] = []
    for saver in list(_open):
        try:
            saver.close()
        except Exception as e:  # the others are closed all the same
            errors.append(e)
    if errors:
        raise errors[0]


class AsyncSaver:
    """Saves checkpoints in the background while training goes on.

    :meth:`save` takes the same arguments as :func:`varstore.save`,
    copies the tensors (NumPy arrays, PyTorch tensors, anything
    :func:`varstore.save` takes) and returns; the library then encodes
    and writes them on a thread of its own, without the GIL. Once
    :meth:`save` returns, the arrays may be changed or freed: the
    checkpoint holds their values as of the call (the copy costs memory
    for one copy of the saved bytes, which the saver keeps for its next
    save until :meth:`close`: a next save of a like size then copies
    into memory already touched, about four times faster).

    One save is in flight at a time: :meth:`save` first waits for the
    previous one. A failure of the background save is raised (as
    :func:`varstore.save` would raise it) by :meth:`wait`, by the next
    :meth:`save` (which then saves nothing) or by :meth:`close`; each
    failure is raised once. Bad arguments raise at once, and start
    nothing::

        with varstore.AsyncSaver() as saver:
            for step in range(steps):
                train_one_step(model)
                if step % 100 == 0:
                    saver.save("run.db", model.state_dict(), step=step)
        # leaving the block waits for the last save and raises its error

    A ``progress`` callback runs on the library's thread (holding the
    GIL while it runs); an exception it raises is raised by the call that
    reports the save, and it may not use its own saver (RuntimeError).
    One thread at a time may use a saver. A saver still open when the
    interpreter exits is closed then (its save lands; its error is
    printed).
    """

    def __init__(self) -> None:
        self._core = _core.AsyncSaver()
        _open.add(self)

    def save(self, path: PathLike, tensors: Mapping[str, Any],
             step: Optional[int] = None, *, codec: str = "default",
             level: int = 0, threads: int = 0,
             max_to_keep: Optional[int] = None,
             progress: Optional[Progress] = None, copy: bool = True) -> int:
        """Starts saving ``tensors`` as checkpoint ``step`` of ``path``
        and returns the step, once the tensors are copied. Arguments as
        :func:`varstore.save`; ``step=None`` waits for the save in flight
        first, to find the step after the newest in the file.

        ``copy=False`` copies nothing: the saver holds the arrays' buffers
        and reads them on its thread, so the call returns after the
        checks alone. Until the save is reported (:meth:`wait`, the next
        :meth:`save` or :meth:`close` returns), the arrays must not
        change (NumPy refuses to resize them then); a change in that time
        leaves that checkpoint's values undefined (each chunk read once
        may mix old and new; the checkpoint still loads). For arrays that
        are replaced rather than changed in place, as JAX's are.

        Raises:
            the previous save's error (this one is then not started), or
            this one's argument errors, as :func:`varstore.save`.
        """
        if not isinstance(copy, bool):
            raise InvalidArgumentError(
                f"copy must be True or False, got {type(copy).__name__}")
        if step is None:
            self._core.wait()
        args = save_args(path, tensors, step, codec, level, threads,
                         max_to_keep, progress)
        if copy:
            self._core.save(*args)
        else:
            self._core.save_nocopy(*args)
        return args[1]

    def wait(self) -> None:
        """Blocks (without the GIL) until the save in flight ends; raises
        its error. Returns at once when nothing is in flight or its result
        was already raised."""
        self._core.wait()

    def close(self) -> None:
        """Waits for the save in flight, raises its error, and frees the
        saver; later calls of save and wait raise InvalidArgumentError.
        Closing twice is fine."""
        self._core.close()

    @property
    def closed(self) -> bool:
        return bool(self._core.closed)

    def __enter__(self) -> "AsyncSaver":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]],
                 exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.close()
