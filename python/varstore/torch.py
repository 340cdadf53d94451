"""PyTorch state dicts in varstore checkpoints.

:func:`save_state_dict` and :func:`load_state_dict` round-trip a model's
``state_dict()`` or an optimizer's bit-exactly: ``model.load_state_dict(
load_state_dict(path))`` gives tensors equal bit for bit to the saved ones
(dtype, shape and every byte, NaN payloads and -0.0 included).

Key scheme:

* A flat ``{str: Tensor}`` dict (a model's ``state_dict()``) is stored as
  is: each tensor under its own key (``"layer1.0.conv1.weight"``), so the
  ``varstore`` command and the C API see the model's own names.
* Anything else (an optimizer's ``{"state": {0: {...}}, "param_groups":
  [...]}``, or a dict holding non-tensor values) is flattened: each tensor
  is stored under the path of keys and list indices leading to it, joined
  with ``"/"`` (``"state/0/exp_avg"``, ``"state/0/step"``), and the
  structure with every non-tensor value (numbers, strings, bools, None,
  lists, tuples, int and str keys) goes into one JSON document stored as a
  uint8 tensor under the key ``"__state_dict__"``. Loading rebuilds the
  same nesting, key types and order.

Tensors are read back on the CPU (move them with ``.to(device)``); a model's
``load_state_dict`` copies them into its parameters wherever they live.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np

from ._api import PathLike, load, save
from ._core import VS_ENOTFOUND
from ._errors import InvalidArgumentError, NotFoundError

try:
    import torch as _torch
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError("varstore.torch needs PyTorch (pip install torch)") \
        from _e

__all__ = ["save_state_dict", "load_state_dict", "STRUCTURE_KEY"]

#: The key of the JSON structure of a nested state dict.
STRUCTURE_KEY = "__state_dict__"


def _is_flat(state: Mapping[Any, Any]) -> bool:
    return all(isinstance(k, str) and isinstance(v, _torch.Tensor)
               for k, v in state.items()) and STRUCTURE_KEY not in state


def _encode(value: Any, path: Tuple[str, ...],
            tensors: Dict[str, Any]) -> Any:
    """The JSON form of value; its tensors go into tensors by path."""
    if isinstance(value, _torch.Tensor):
        key = "/".join(path)
        if key in tensors or key == STRUCTURE_KEY:
            raise InvalidArgumentError(
                f"two tensors of the state dict map to the key {key!r}")
        tensors[key] = value
        return {"__tensor__": key}
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise InvalidArgumentError(
                    f"state dict key {k!r} at {'/'.join(path) or '/'}: only "
                    "str and int keys are supported")
            items.append([k, _encode(v, path + (str(k),), tensors)])
        return {"__dict__": items}
    if isinstance(value, (list, tuple)):
        enc = [_encode(v, path + (str(i),), tensors)
               for i, v in enumerate(value)]
        return enc if isinstance(value, list) else {"__tuple__": enc}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise InvalidArgumentError(
        f"state dict value at {'/'.join(path)} has type "
        f"{type(value).__name__}: only tensors, numbers, str, bool, None, "
        "lists, tuples and dicts can be stored")


def _decode(enc: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(enc, list):
        return [_decode(v, tensors) for v in enc]
    if isinstance(enc, dict):
        if "__tensor__" in enc:
            key = enc["__tensor__"]
            if key not in tensors:  # renamed (File.rename) or deleted
                raise NotFoundError(
                    f"Key {key} not found in checkpoint (the state dict's "
                    f"{STRUCTURE_KEY} holds a tensor under it)",
                    VS_ENOTFOUND)
            return tensors[key]
        if "__tuple__" in enc:
            return tuple(_decode(v, tensors) for v in enc["__tuple__"])
        return {k: _decode(v, tensors) for k, v in enc["__dict__"]}
    return enc


def save_state_dict(path: PathLike, state_dict: Mapping[Any, Any],
                    step: Optional[int] = None, **kwargs: Any) -> int:
    """Saves a model's or optimizer's ``state_dict()`` as checkpoint
    ``step`` (None: one after the newest). ``kwargs`` are those of
    :func:`varstore.save` (codec, level, threads, max_to_keep, progress).
    Returns the step saved. See the module's doc for the key scheme."""
    if not isinstance(state_dict, Mapping):
        raise InvalidArgumentError(
            f"state_dict must be a mapping, got {type(state_dict).__name__}")
    if _is_flat(state_dict):
        return save(path, state_dict, step, **kwargs)
    tensors: Dict[str, Any] = {}
    structure = _encode(state_dict, (), tensors)
    doc = json.dumps(structure, allow_nan=True).encode("utf-8")
    tensors[STRUCTURE_KEY] = np.frombuffer(doc, dtype=np.uint8)
    return save(path, tensors, step, **kwargs)


def load_state_dict(path: PathLike, step: Optional[int] = None, *,
                    threads: int = 0) -> Dict[Any, Any]:
    """Loads checkpoint ``step`` (None: the newest) as a state dict of CPU
    tensors, ready for ``model.load_state_dict`` or
    ``optimizer.load_state_dict``. NotFoundError if a tensor of a nested
    state dict is missing (renamed, say); InvalidArgumentError if
    ``__state_dict__`` is not one this module wrote."""
    tensors = load(os.fspath(path), step, framework="torch", threads=threads)
    doc = tensors.pop(STRUCTURE_KEY, None)
    if doc is None:
        return tensors
    if doc.dtype != _torch.uint8 or doc.dim() != 1:
        raise InvalidArgumentError(
            f"{STRUCTURE_KEY} is not a 1-D uint8 tensor: not a state dict "
            "saved by varstore.torch")
    try:
        structure = json.loads(bytes(doc.numpy()).decode("utf-8"))
    except ValueError as e:  # not UTF-8, or not JSON
        raise InvalidArgumentError(
            f"{STRUCTURE_KEY} is not JSON ({e}): not a state dict saved by "
            "varstore.torch") from e
    return _decode(structure, tensors)


