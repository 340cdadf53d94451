#!/usr/bin/python3
"""Writes the reference model for the checkpoint benchmark.

The ResNet-18 set of tensors in TF layout (conv kernels HWIO, batch-norm
gamma/beta/moving_mean/moving_variance, fc/kernel [512,1000], fc/bias):
102 tensors, 11,699,112 float32 values, 46,796,448 bytes.

Variants:
  a  glorot-uniform kernels (Keras limit sqrt(6/(fan_in+fan_out)) with
     fan_in = kh*kw*in, fan_out = kh*kw*out), BN 1/0/0/1, fc bias 0, numpy
     default_rng(42), drawn in the model's tensor order.
  b  "trained-like". With torch: a plain-torch ResNet-18 (no torchvision;
     same layers and init rules as torchvision's resnet18: kaiming-normal
     fan_out convs, BN 1/0, torch's default Linear init) after
     torch.manual_seed(0), then 300 SGD steps (lr 0.05, momentum 0.9,
     weight decay 1e-4, train mode, batches of 16 N(0,1) 3x64x64 images with
     uniform random labels, generator seed 1), exported OIHW -> HWIO and the
     fc weight transposed to [in, out]. Without torch: numpy only,
     kaiming-normal kernels then 300 momentum-SGD steps driven by random
     N(0,1)-scaled gradients (an approximation; the .info file says which).

Per variant it writes, under OUT (default bench/data):
  OUT/<v>/<name>.npy   one file per tensor (folders are scopes)
  OUT/<v>.f32          every tensor's raw little-endian bytes, concatenated
  OUT/<v>.tsv          name<TAB>shape (comma-separated)<TAB>offset<TAB>bytes
  OUT/<v>.info         how it was made (read by report.py)
A variant whose files are complete (the .info file is written last and
records FORMAT) is not rebuilt unless --force is given.
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np

FORMAT = "varstore-bench-model-1"
N_TENSORS = 102
N_VALUES = 11699112


def resnet18_spec():
    """[(prefix, kh, kw, cin, cout)] for every conv (each followed by a BN)."""
    convs = [("conv1", 7, 7, 3, 64)]
    cin = 64
    for li, ch in enumerate((64, 128, 256, 512)):
        for b in range(2):
            p = "layer%d/block%d" % (li + 1, b)
            first_in = cin if b == 0 else ch
            convs.append((p + "/conv1", 3, 3, first_in, ch))
            convs.append((p + "/conv2", 3, 3, ch, ch))
            if b == 0 and li > 0:
                convs.append((p + "/downsample", 1, 1, cin, ch))
        cin = ch
    return convs


def tensor_list():
    """[(name, shape, kind)] in model order; kind in kernel/gamma/beta/
    mean/var/fc_kernel/fc_bias."""
    out = []
    for p, kh, kw, ci, co in resnet18_spec():
        out.append((p + "/kernel", (kh, kw, ci, co), "kernel"))
        out.append((p + "/bn/gamma", (co,), "gamma"))
        out.append((p + "/bn/beta", (co,), "beta"))
        out.append((p + "/bn/moving_mean", (co,), "mean"))
        out.append((p + "/bn/moving_variance", (co,), "var"))
    out.append(("fc/kernel", (512, 1000), "fc_kernel"))
    out.append(("fc/bias", (1000,), "fc_bias"))
    return out


def variant_a():
    rng = np.random.default_rng(42)
    t = {}
    for name, shape, kind in tensor_list():
        if kind in ("kernel", "fc_kernel"):
            if len(shape) == 4:
                rf = shape[0] * shape[1]
                fan_in, fan_out = rf * shape[2], rf * shape[3]
            else:
                fan_in, fan_out = shape
            lim = np.sqrt(6.0 / (fan_in + fan_out))
            t[name] = rng.uniform(-lim, lim, size=shape).astype(np.float32)
        elif kind in ("gamma", "var"):
            t[name] = np.ones(shape, np.float32)
        else:
            t[name] = np.zeros(shape, np.float32)
    return t, "glorot-uniform kernels, numpy default_rng(42); BN 1/0/0/1; fc bias 0"


def variant_b_torch(torch):
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False),
                    nn.BatchNorm2d(cout))

        def forward(self, x):
            y = F.relu(self.bn1(self.conv1(x)))
            y = self.bn2(self.conv2(y))
            s = x if self.downsample is None else self.downsample(x)
            return F.relu(y + s)

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            layers, cin = [], 64
            for li, ch in enumerate((64, 128, 256, 512)):
                stride = 1 if li == 0 else 2
                layers.append(nn.Sequential(Block(cin, ch, stride),
                                            Block(ch, ch, 1)))
                cin = ch
            self.layer1, self.layer2, self.layer3, self.layer4 = layers
            self.fc = nn.Linear(512, 1000)
            for m in self.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out",
                                            nonlinearity="relu")
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
            return self.fc(x)

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    torch.manual_seed(0)
    model = ResNet18()
    w0 = model.layer3[1].conv1.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9,
                          weight_decay=1e-4)
    gen = torch.Generator().manual_seed(1)
    model.train()
    t0 = time.time()
    for step in range(300):
        x = torch.randn(16, 3, 64, 64, generator=gen)
        y = torch.randint(0, 1000, (16,), generator=gen)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        if not torch.isfinite(loss):
            raise SystemExit("make_model: SGD diverged at step %d" % step)
    dt = time.time() - t0
    w1 = model.layer3[1].conv1.weight.detach()
    moved = float((w1 - w0).norm() / w0.norm())

    def bn(prefix, m, t):
        t[prefix + "/bn/gamma"] = m.weight.detach().numpy()
        t[prefix + "/bn/beta"] = m.bias.detach().numpy()
        t[prefix + "/bn/moving_mean"] = m.running_mean.numpy()
        t[prefix + "/bn/moving_variance"] = m.running_var.numpy()

    def kern(w):
        return w.detach().permute(2, 3, 1, 0).contiguous().numpy()  # OIHW->HWIO

    t = {"conv1/kernel": kern(model.conv1.weight)}
    bn("conv1", model.bn1, t)
    for li in range(4):
        layer = getattr(model, "layer%d" % (li + 1))
        for b in range(2):
            blk, p = layer[b], "layer%d/block%d" % (li + 1, b)
            t[p + "/conv1/kernel"] = kern(blk.conv1.weight)
            bn(p + "/conv1", blk.bn1, t)
            t[p + "/conv2/kernel"] = kern(blk.conv2.weight)
            bn(p + "/conv2", blk.bn2, t)
            if blk.downsample is not None:
                t[p + "/downsample/kernel"] = kern(blk.downsample[0].weight)
                bn(p + "/downsample", blk.downsample[1], t)
    t["fc/kernel"] = model.fc.weight.detach().t().contiguous().numpy()
    t["fc/bias"] = model.fc.bias.detach().numpy()
    mv = float(np.mean(np.concatenate(
        [v.ravel() for k, v in t.items() if k.endswith("moving_variance")])))
    info = ("plain-torch ResNet-18 (torchvision-free, torchvision init rules), "
            "torch.manual_seed(0), 300 SGD steps lr 0.05 momentum 0.9 wd 1e-4 "
            "on N(0,1) 16x3x64x64 batches, random labels, generator seed 1 "
            "(%.0f s; layer3/block1/conv1 moved %.1f%%; mean moving variance "
            "%.2f)" % (dt, 100 * moved, mv))
    return t, info


def variant_b_numpy():
    rng = np.random.default_rng(0)
    t, mom = {}, {}
    for name, shape, kind in tensor_list():
        if kind == "kernel":
            fan_out = shape[0] * shape[1] * shape[3]
            t[name] = rng.normal(0, np.sqrt(2.0 / fan_out), size=shape)
        elif kind == "fc_kernel":
            lim = 1 / np.sqrt(512)
            t[name] = rng.uniform(-lim, lim, size=shape)
        elif kind == "fc_bias":
            t[name] = rng.uniform(-1 / np.sqrt(512), 1 / np.sqrt(512), shape)
        elif kind in ("gamma", "var"):
            t[name] = np.ones(shape)
        else:
            t[name] = np.zeros(shape)
    for name in t:
        t[name] = t[name].astype(np.float32)
        mom[name] = np.zeros_like(t[name])
    # 300 momentum-SGD steps whose "gradients" are random, scaled to each
    # tensor's spread; moving statistics follow an exponential average of
    # random batch statistics, as BN's would.
    lr, mu, wd = 0.05, 0.9, 1e-4
    for _ in range(300):
        for name, shape, kind in tensor_list():
            w = t[name]
            if kind in ("mean", "var"):
                batch = (rng.normal(0, 1, shape) if kind == "mean"
                         else rng.gamma(4.0, 1.0, shape))
                t[name] = (0.9 * w + 0.1 * batch).astype(np.float32)
                continue
            scale = 0.01 * (float(np.std(w)) or 0.1)
            g = rng.normal(0, scale, size=shape).astype(np.float32)
            mom[name] = mu * mom[name] + g + wd * w
            t[name] = (w - lr * mom[name]).astype(np.float32)
    return t, ("numpy approximation (torch not available): kaiming-normal "
               "kernels, default_rng(0), 300 momentum-SGD steps with random "
               "gradients; BN statistics as running averages of random "
               "batch statistics")


def write_variant(out, v, tensors, info):
    vdir = os.path.join(out, v)
    for suffix in (".f32", ".tsv", ".info"):
        p = os.path.join(out, v + suffix)
        if os.path.exists(p):
            os.unlink(p)
    if os.path.isdir(vdir):
        shutil.rmtree(vdir)
    specs = tensor_list()
    if len(specs) != N_TENSORS or set(tensors) != {s[0] for s in specs}:
        raise SystemExit("make_model: tensor set mismatch for variant " + v)
    total, offset, lines = 0, 0, []
    with open(os.path.join(out, v + ".f32"), "wb") as f:
        for name, shape, _ in specs:
            a = np.ascontiguousarray(tensors[name], dtype="<f4")
            if a.shape != tuple(shape):
                raise SystemExit("make_model: %s has shape %s, want %s" %
                                 (name, a.shape, shape))
            if not np.all(np.isfinite(a)):
                raise SystemExit("make_model: %s is not finite" % name)
            path = os.path.join(vdir, name + ".npy")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            np.save(path, a)
            b = a.tobytes()
            f.write(b)
            lines.append("%s\t%s\t%d\t%d\n" % (
                name, ",".join(str(d) for d in shape), offset, len(b)))
            offset += len(b)
            total += a.size
    if total != N_VALUES:
        raise SystemExit("make_model: %d values, want %d" % (total, N_VALUES))
    with open(os.path.join(out, v + ".tsv"), "w") as f:
        f.writelines(lines)
    with open(os.path.join(out, v + ".info"), "w") as f:
        f.write("%s\n%s\n" % (FORMAT, info))
    print("make_model: variant %s: %d tensors, %d float32 (%d bytes): %s" %
          (v, len(specs), total, offset, info))


def is_complete(out, v):
    try:
        with open(os.path.join(out, v + ".info")) as f:
            if f.readline().strip() != FORMAT:
                return False
        return os.path.getsize(os.path.join(out, v + ".f32")) == N_VALUES * 4
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--force", action="store_true")
    ap.add_argument("--variants", default="a,b")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for v in args.variants.split(","):
        if v not in ("a", "b"):
            raise SystemExit("make_model: unknown variant " + v)
        if not args.force and is_complete(args.out, v):
            with open(os.path.join(args.out, v + ".info")) as f:
                f.readline()
                print("make_model: variant %s up to date: %s" %
                      (v, f.readline().strip()))
            continue
        if v == "a":
            t, info = variant_a()
        else:
            try:
                import torch
            except ImportError:
                torch = None
            if torch is not None:
                t, info = variant_b_torch(torch)
            else:
                print("make_model: torch not available; variant b uses the "
                      "numpy approximation", file=sys.stderr)
                t, info = variant_b_numpy()
        write_variant(args.out, v, t, info)


if __name__ == "__main__":
    main()
