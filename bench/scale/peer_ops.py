#!/usr/bin/env python3
"""One timed operation of the scale bench, in this fresh process; prints
one JSON line. The model is read into memory before the timing; each load
is checked outside the timing (its "manifest": every tensor's CRC-32,
dtype and shape, compared by scale.py with the model's). Saves and loads
also report "peak_rss": the process's peak RSS in bytes from just before
the operation (the model already in memory for a save), or null where
the kernel cannot reset the peak.

  torch-save SRC DST    torch.save(state_dict, f), flush, os.fsync
  st-save SRC DST       safetensors.torch.save_file, then os.fsync
  torch-load PATH       torch.load(PATH, weights_only=True)
  st-load PATH          safetensors.numpy.load_file (the file read whole)
  vs-load DB            varstore.load(DB) (NumPy arrays)
  torch-reader PATH     torch.load in a loop until SIGTERM ("ready" first)
  dcp-async SRC DIR     torch.distributed.checkpoint.async_save (gloo,
                        world size 1): blocked and total seconds
  orbax-async SRC DIR   orbax StandardCheckpointer (async): the same
SRC is a safetensors file; its tensors are materialized in memory.
"""
import json
import os
import signal
import sys
import tempfile
import time
import zlib

import numpy as np


def emit(**kw):
    print(json.dumps(kw), flush=True)


def fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def reset_peak():
    """Sets this process's peak RSS to its current RSS ("5" written to
    /proc/self/clear_refs), so that the peak read afterwards is that of
    the operation, whatever reading the model took before. False where
    the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss(reset):
    """VmHWM in bytes, or None when reset (reset_peak's result) failed."""
    if not reset:
        return None
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


def manifest(arrays):
    out = {}
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray):
            a = a.numpy()
        a = np.ascontiguousarray(a)
        out[k] = [zlib.crc32(memoryview(a).cast("B")), str(a.dtype),
                  list(a.shape)]
    return out


def torch_model(src):
    from safetensors.torch import load_file
    return {k: v.clone() for k, v in load_file(src).items()}


def torch_save(src, dst):
    import torch
    sd = torch_model(src)
    reset = reset_peak()
    t0 = time.perf_counter()
    with open(dst, "wb") as f:
        torch.save(sd, f)
        f.flush()
        os.fsync(f.fileno())
    emit(seconds=time.perf_counter() - t0, peak_rss=peak_rss(reset))


def st_save(src, dst):
    from safetensors.torch import save_file
    sd = torch_model(src)
    reset = reset_peak()
    t0 = time.perf_counter()
    save_file(sd, dst)
    fsync(dst)
    emit(seconds=time.perf_counter() - t0, peak_rss=peak_rss(reset))


def timed_load(fn, path):
    reset = reset_peak()
    t0 = time.perf_counter()
    got = fn(path)
    dt = time.perf_counter() - t0
    emit(seconds=dt, peak_rss=peak_rss(reset), manifest=manifest(got))


def torch_load(path):
    import torch
    timed_load(lambda p: torch.load(p, weights_only=True), path)


def st_load(path):
    from safetensors.numpy import load_file
    timed_load(load_file, path)


def vs_load(path):
    import varstore
    timed_load(varstore.load, path)


def torch_reader(path):
    import torch
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    torch.load(path, weights_only=True)
    print("ready", flush=True)
    loops, worst = 0, 0.0
    while not stop:
        t0 = time.perf_counter()
        torch.load(path, weights_only=True)
        worst = max(worst, time.perf_counter() - t0)
        loops += 1
    emit(loops=loops, max_s=worst, errors=0)


def dcp_async(src, out_dir):
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    fd, store = tempfile.mkstemp(prefix="dcp-store-")
    os.close(fd)
    os.unlink(store)
    dist.init_process_group("gloo", init_method="file://" + store,
                            rank=0, world_size=1)
    try:
        sd = torch_model(src)
        t0 = time.perf_counter()
        fut = dcp.async_save(sd, checkpoint_id=out_dir)
        t1 = time.perf_counter()
        fut.result()
        t2 = time.perf_counter()
        back = {k: torch.zeros_like(v) for k, v in sd.items()}
        dcp.load(back, checkpoint_id=out_dir)
        emit(blocked_s=t1 - t0, total_s=t2 - t0, manifest=manifest(back))
    finally:
        dist.destroy_process_group()
        if os.path.exists(store):
            os.unlink(store)


def orbax_async(src, out_dir):
    import jax
    import orbax.checkpoint as ocp
    from safetensors.numpy import load_file
    # Orbax names arrays by their pytree path: "/" becomes "|" there.
    state = {k.replace("/", "|"): jax.device_put(v)
             for k, v in load_file(src).items()}
    jax.block_until_ready(state)
    ckptr = ocp.StandardCheckpointer()
    t0 = time.perf_counter()
    ckptr.save(os.path.abspath(out_dir), state)
    t1 = time.perf_counter()
    ckptr.wait_until_finished()
    t2 = time.perf_counter()
    back = ckptr.restore(os.path.abspath(out_dir))
    ckptr.close()
    got = {k.replace("|", "/"): np.asarray(v) for k, v in back.items()}
    emit(blocked_s=t1 - t0, total_s=t2 - t0, manifest=manifest(got))


OPS = {"torch-save": torch_save, "st-save": st_save,
       "torch-load": torch_load, "st-load": st_load, "vs-load": vs_load,
       "torch-reader": torch_reader, "dcp-async": dcp_async,
       "orbax-async": orbax_async}


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in OPS:
        sys.exit("usage: peer_ops.py {%s} ARGS" % ",".join(OPS))
    OPS[sys.argv[1]](*sys.argv[2:])


if __name__ == "__main__":
    main()
