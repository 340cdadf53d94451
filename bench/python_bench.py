#!/usr/bin/env python3
"""varstore's Python binding against the formats PyTorch and NumPy users
pick, measured in one run on the same tensors.

Models (PyTorch state dicts of float32 values drawn at random):
  resnet18  the state dict of torchvision's resnet18() (its keys and
            shapes, no torchvision needed): 122 tensors, 11.7 M values,
            47 MB
  big       N Linear(4096, 1024) layers, --big-mb MB in all (default 256)

For each model and format it times save and load (best of --repeat, files
in --dir; loads read from the page cache, right after the save) and
reports the file size, then every load is checked bit for bit against the
model (outside the timing). Formats: varstore (default codec and raw; load
as NumPy and as torch), torch.save/torch.load (and torch.load(mmap=True)
with every tensor then copied, so that all bytes are read),
safetensors save_file/load_file (numpy; and torch, whose load_file maps
the file, with every tensor then copied), h5py (gzip level 1 +
shuffle filter), np.savez/np.load.

Fine-tuning: --steps checkpoints (default 100) of the ResNet-18 in which
only the head changes each step, in two scenarios: "fc" (a linear probe:
fc.weight and fc.bias) and "last block" (fc and layer4.1: its two convs
and BNs): one varstore file holding every step against one safetensors
file per step (each written, measured and deleted).

Ratios are varstore's figure over the other format's (time: < 1 means
varstore is faster; size: < 1 means smaller). Needs torch; safetensors and
h5py are optional (scripts/requirements-bench.txt). Usage:
  PYTHONPATH=build/python .venv/bin/python bench/python_bench.py [--quick]
"""
import argparse
import os
import shutil
import tempfile
import time

import numpy as np

try:
    import torch
except ImportError:
    raise SystemExit("python_bench.py needs PyTorch")

import varstore
import varstore.torch as vst


def resnet18_shapes():
    """[(key, shape)] of torchvision's resnet18().state_dict(), in order;
    BN layers expand to weight, bias, running_mean, running_var and
    num_batches_tracked (shape None)."""
    out = []

    def conv_bn(conv, bn, cin, cout, k):
        out.append((conv + ".weight", (cout, cin, k, k)))
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            out.append((f"{bn}.{leaf}", (cout,)))
        out.append((bn + ".num_batches_tracked", None))

    conv_bn("conv1", "bn1", 3, 64, 7)
    cin = 64
    for li, ch in enumerate((64, 128, 256, 512), start=1):
        for b in (0, 1):
            p = f"layer{li}.{b}"
            conv_bn(p + ".conv1", p + ".bn1", cin if b == 0 else ch, ch, 3)
            conv_bn(p + ".conv2", p + ".bn2", ch, ch, 3)
            if b == 0 and cin != ch:
                conv_bn(p + ".downsample.0", p + ".downsample.1", cin, ch, 1)
        cin = ch
    out += [("fc.weight", (1000, 512)), ("fc.bias", (1000,))]
    return out


def resnet18():
    """A ResNet-18 state dict with values like a trained one: kaiming-normal
    (fan_out) convs, torch's Linear init, BN affine and statistics drawn
    around 1 and 0."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for key, shape in resnet18_shapes():
        leaf = key.rsplit(".", 1)[1]
        if shape is None:
            sd[key] = torch.tensor(1000)
        elif len(shape) == 4:
            std = (2.0 / (shape[0] * shape[2] * shape[3])) ** 0.5
            sd[key] = torch.randn(shape, generator=g) * std
        elif key.startswith("fc."):
            sd[key] = (torch.rand(shape, generator=g) * 2 - 1) / 512 ** 0.5
        elif leaf in ("weight", "running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.1
    return sd


def big_model(mb):
    torch.manual_seed(1)
    n = max(1, (mb << 20) // (4096 * 1024 * 4))
    return {f"layers.{i}.weight": torch.randn(4096, 1024) * 0.02
            for i in range(n)}


def same(a, b):
    """Bit-exact equality of two {name: tensor or array} dicts."""
    def raw(x):
        if isinstance(x, torch.Tensor):
            x = x.detach().contiguous().reshape(-1).view(torch.uint8).numpy()
        return np.ascontiguousarray(x).reshape(-1).view(np.uint8).tobytes()
    return sorted(a) == sorted(b) and all(raw(a[k]) == raw(b[k]) for k in a)


def size_of(path):
    if os.path.isdir(path):
        return sum(os.path.getsize(os.path.join(d, f))
                   for d, _, fs in os.walk(path) for f in fs)
    return os.path.getsize(path)


def remove(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    elif os.path.exists(path):
        os.remove(path)


# ---- formats: name -> (save(path, sd_torch, sd_numpy), load(path)) ----

def varstore_fmt(codec, framework):
    def save(path, sd, _np):
        varstore.save(path, sd, step=0, codec=codec)

    def load(path):
        return varstore.load(path, framework=framework)
    return save, load


def torch_load_mmap(path):
    sd = torch.load(path, mmap=True, weights_only=True)
    return {k: v.clone() for k, v in sd.items()}


def formats():
    f = {
        "varstore (numpy)": varstore_fmt("default", "numpy"),
        "varstore (torch)": varstore_fmt("default", "torch"),
        "varstore raw (numpy)": varstore_fmt("raw", "numpy"),
        "torch.save/load": (lambda p, sd, _n: torch.save(sd, p),
                            lambda p: torch.load(p, weights_only=True)),
        "torch.load mmap": (lambda p, sd, _n: torch.save(sd, p),
                            torch_load_mmap),
        "np.savez": (lambda p, _s, nd: np.savez(p, **nd),
                     lambda p: dict(np.load(p))),
    }
    try:
        import safetensors.numpy as stn
        import safetensors.torch as stt
        f["safetensors (numpy)"] = (lambda p, _s, nd: stn.save_file(nd, p),
                                    stn.load_file)
        f["safetensors (torch, mmap + copy)"] = (
            lambda p, sd, _n: stt.save_file(sd, p),
            lambda p: {k: v.clone() for k, v in stt.load_file(p).items()})
    except ImportError:
        print("safetensors is not importable: skipped")
    try:
        import h5py

        def h5_save(p, _s, nd):
            with h5py.File(p, "w") as h:
                for k, v in nd.items():
                    kw = {} if v.ndim == 0 else dict(
                        compression="gzip", compression_opts=1, shuffle=True)
                    h.create_dataset(k, data=v, **kw)

        def h5_load(p):
            with h5py.File(p, "r") as h:
                return {k: h[k][()] for k in h}
        f["h5py gzip-1+shuffle"] = (h5_save, h5_load)
    except ImportError:
        print("h5py is not importable: skipped")
    return f


def measure(name, fmt, sd, nd, folder, repeat):
    save, load = fmt
    path = os.path.join(folder, name.replace(" ", "_").replace("/", "_"))
    if name == "np.savez":
        path += ".npz"
    best_save = best_load = float("inf")
    for _ in range(repeat):
        remove(path)
        t0 = time.perf_counter()
        save(path, sd, nd)
        best_save = min(best_save, time.perf_counter() - t0)
        t0 = time.perf_counter()
        out = load(path)
        best_load = min(best_load, time.perf_counter() - t0)
    ok = same(out, sd)
    size = size_of(path)
    remove(path)
    return best_save, best_load, size, ok


def report(title, sd, folder, repeat):
    nd = {k: v.numpy() for k, v in sd.items()}
    raw = sum(v.nbytes for v in nd.values())
    print(f"\n### {title}: {len(sd)} tensors, {raw / 1e6:.1f} MB\n")
    rows = {n: measure(n, f, sd, nd, folder, repeat)
            for n, f in formats().items()}
    ref = rows["varstore (numpy)"]
    print("| format | save s | load s | size MB | varstore/this save "
          "| varstore/this load | varstore/this size | bit-exact |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for n, (s, ld, size, ok) in rows.items():
        print(f"| {n} | {s:.3f} | {ld:.3f} | {size / 1e6:.1f} | "
              f"{ref[0] / s:.2f} | {ref[1] / ld:.2f} | {ref[2] / size:.2f} "
              f"| {'yes' if ok else 'NO'} |")
    return all(r[3] for r in rows.values())


def fine_tune(folder, steps, prefixes, title):
    sd = resnet18()
    changing = [k for k in sd if k.startswith(prefixes)
                and sd[k].is_floating_point()]
    db = os.path.join(folder, "finetune.db")
    st_total = 0
    save_s = 0.0
    try:
        import safetensors.torch as stt
    except ImportError:
        stt = None
    g = torch.Generator().manual_seed(2)
    for step in range(steps):
        for k in changing:
            sd[k] = sd[k] + 1e-3 * torch.randn(sd[k].shape, generator=g)
        t0 = time.perf_counter()
        vst.save_state_dict(db, sd, step)
        save_s += time.perf_counter() - t0
        if stt is not None:
            p = os.path.join(folder, f"step{step}.safetensors")
            stt.save_file(sd, p)
            st_total += os.path.getsize(p)
            os.remove(p)
    ok = same(vst.load_state_dict(db, steps - 1), sd)
    vs_size = size_of(db)
    n_changing = sum(sd[k].numel() for k in changing)
    n_all = sum(v.numel() for v in sd.values())
    share = 100 * n_changing / n_all
    print(f"\n### Fine-tuning ({title}): {steps} checkpoints of the "
          f"ResNet-18, {len(changing)} tensors ({share:.0f}% of the values) "
          "changing each step\n")
    print("| store | disk MB | per step MB |")
    print("| --- | ---: | ---: |")
    print(f"| varstore, one file | {vs_size / 1e6:.1f} | "
          f"{vs_size / 1e6 / steps:.2f} |")
    if stt is not None:
        print(f"| safetensors, a file per step | {st_total / 1e6:.1f} | "
              f"{st_total / 1e6 / steps:.2f} |")
        print(f"\nvarstore / safetensors disk: {vs_size / st_total:.3f}; "
              f"varstore save {1e3 * save_s / steps:.0f} ms per step; "
              f"last step bit-exact: {'yes' if ok else 'NO'}")
    os.remove(db)
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small run: big model 32 MB, 10 steps, 1 repeat")
    ap.add_argument("--big-mb", type=int, default=256)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="scratch folder")
    a = ap.parse_args()
    if a.quick:
        a.big_mb, a.steps, a.repeat = 32, 10, 1
    folder = tempfile.mkdtemp(prefix="vs-pybench-", dir=a.dir)
    try:
        print(f"varstore {varstore.__version__} "
              f"(C {varstore.c_library_version}), torch {torch.__version__}, "
              f"numpy {np.__version__}, {os.cpu_count()} CPUs; "
              f"best of {a.repeat}")
        ok = report("ResNet-18 state dict", resnet18(), folder, a.repeat)
        ok &= report(f"Big model ({a.big_mb} MB)", big_model(a.big_mb),
                     folder, a.repeat)
        ok &= fine_tune(folder, a.steps, ("fc.",), "fc")
        ok &= fine_tune(folder, a.steps, ("fc.", "layer4.1."), "last block")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if not ok:
        raise SystemExit("a load was not bit-exact")


if __name__ == "__main__":
    main()
