"""The scale bench's models: float32 values drawn from a normal
distribution (so that no format gets free compression), written once to
DATA/<model>.safetensors and to the .npy tree DATA/<model>/ (the CLI's two
inputs), with DATA/<model>.manifest.json: {name: [crc32, dtype, shape]},
the checksums every load is checked against. A model whose stamp
(DATA/<model>.done, its specification) matches is not written again.

  resnet  ~5 MB, ResNet-18's layout at reduced width: dozens of small
          conv kernels, batch-norm vectors and a classifier
  tf500   ~500 MB transformer: per layer [d, d] q/k/v/o, [d, 4d] and
          [4d, d] MLP matrices, layer-norm vectors (d = 1024)
  tf2g    ~2 GB, the same with more layers
  emb2g   one 500000 x 1024 embedding table (2.05 GB)
  big     one tensor of 2.25 GiB (589824 x 1024)
--quick: resnet 5 MB, tf500 50 MB, tf2g 200 MB, emb2g 200 MB, big 300 MiB.
"""
import json
import os
import shutil
import zlib

import numpy as np

D = 1024


def resnet_shapes(width):
    out = [("conv1/kernel", (7, 7, 3, width))]

    def bn(p, c):
        out.extend((f"{p}/bn/{k}", (c,)) for k in
                   ("gamma", "beta", "moving_mean", "moving_variance"))
    bn("conv1", width)
    cin = width
    for s, mult in enumerate((1, 2, 4, 8), start=1):
        ch = width * mult
        for b in (0, 1):
            p = f"layer{s}/block{b}"
            for c in (1, 2):
                src = cin if (b == 0 and c == 1) else ch
                out.append((f"{p}/conv{c}/kernel", (3, 3, src, ch)))
                bn(f"{p}/conv{c}", ch)
            if b == 0 and cin != ch:
                out.append((f"{p}/downsample/kernel", (1, 1, cin, ch)))
                bn(f"{p}/downsample", ch)
        cin = ch
    out += [("fc/kernel", (cin, 1000)), ("fc/bias", (1000,))]
    return out


def nbytes(shapes):
    return sum(4 * int(np.prod(s)) for _, s in shapes)


def resnet(target):
    best = min(range(4, 129), key=lambda w: abs(
        nbytes(resnet_shapes(w)) - target))
    return resnet_shapes(best)


def transformer(target):
    per_layer = 12 * D * D * 4
    out = []
    for i in range(max(1, round(target / per_layer))):
        p = f"layer_{i:02d}"
        for m in ("q", "k", "v", "o"):
            out.append((f"{p}/attn/{m}/kernel", (D, D)))
        out += [(f"{p}/mlp/up/kernel", (D, 4 * D)),
                (f"{p}/mlp/down/kernel", (4 * D, D))]
        for ln in ("ln1", "ln2"):
            out += [(f"{p}/{ln}/gamma", (D,)), (f"{p}/{ln}/beta", (D,))]
    return out


def specs(quick):
    """{model: (description, [(name, shape)])}."""
    mb = 10 ** 6
    if quick:
        return {
            "resnet": ("5 MB ResNet", resnet(5 * mb)),
            "tf500": ("50 MB transformer", transformer(50 * mb)),
            "tf2g": ("200 MB transformer", transformer(200 * mb)),
            "emb2g": ("200 MB embedding", [("embedding/table", (50000, D))]),
            "big": ("300 MiB tensor", [("big/kernel", (76800, D))]),
        }
    return {
        "resnet": ("5 MB ResNet", resnet(5 * mb)),
        "tf500": ("500 MB transformer", transformer(500 * mb)),
        "tf2g": ("2 GB transformer", transformer(2000 * mb)),
        "emb2g": ("2 GB embedding", [("embedding/table", (500000, D))]),
        "big": ("2.25 GiB tensor", [("big/kernel", (589824, D))]),
    }


def crc(a):
    return zlib.crc32(memoryview(np.ascontiguousarray(a)).cast("B"))


def st_header(shapes):
    """The safetensors header bytes (length prefix included)."""
    hdr, off = {}, 0
    for name, shape in shapes:
        n = 4 * int(np.prod(shape))
        hdr[name] = {"dtype": "F32", "shape": list(shape),
                     "data_offsets": [off, off + n]}
        off += n
    text = json.dumps(hdr, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return len(text).to_bytes(8, "little") + text


def write_model(data, model, shapes, seed):
    """Writes the safetensors file, the .npy tree and the manifest."""
    rng = np.random.default_rng(seed)
    tree = os.path.join(data, model)
    shutil.rmtree(tree, ignore_errors=True)
    manifest = {}
    with open(os.path.join(data, model + ".safetensors"), "wb") as st:
        st.write(st_header(shapes))
        for name, shape in shapes:
            a = rng.standard_normal(shape, dtype=np.float32)
            a *= np.float32(0.02)
            st.write(memoryview(a).cast("B"))
            p = os.path.join(tree, name + ".npy")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            np.save(p, a)
            manifest[name] = [crc(a), "float32", list(shape)]
            del a
    with open(os.path.join(data, model + ".manifest.json"), "w") as f:
        json.dump(manifest, f)


def ensure(data, quick, models, log):
    """Writes every model of `models` that is missing or stale; returns
    {model: {"desc", "bytes", "n_tensors"}}."""
    os.makedirs(data, exist_ok=True)
    out = {}
    for seed, (model, (desc, shapes)) in enumerate(specs(quick).items()):
        if model not in models:
            continue
        stamp = os.path.join(data, model + ".done")
        want = json.dumps([desc, shapes])
        have = open(stamp).read() if os.path.exists(stamp) else None
        if have != want:
            log("writing the %s model (%.0f MB) to %s" %
                (desc, nbytes(shapes) / 1e6, data))
            if os.path.exists(stamp):
                os.unlink(stamp)
            write_model(data, model, shapes, 1000 + seed)
            with open(stamp, "w") as f:
                f.write(want)
        out[model] = {"desc": desc, "bytes": nbytes(shapes),
                      "n_tensors": len(shapes)}
    return out
