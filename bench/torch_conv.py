#!/usr/bin/python3
"""torch.nn.functional.conv2d on bench/conv_bench's cases, at 1 and 2
threads: the peer conv_bench's figures are compared with (report.py).

  torch_conv.py --out FILE

Same method as conv_bench: NHWC input (torch's channels_last, which oneDNN
runs natively), float32, SAME output size, warm-up of at least 3 calls and
0.2 s, then the median of max(7, 0.5 s worth) timed calls; GFLOP/s counts
2 * N * Ho * Wo * Co * Kh * Kw * Ci. Writes JSON {case: {"us_1", "gflops_1",
"us_2", "gflops_2"}}, case names as conv_bench prints them. Exits 3 with
the reason on stderr when torch cannot be imported (the bench skips it)."""
import argparse
import json
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    print("torch_conv: torch is not available: %s" % e, file=sys.stderr)
    sys.exit(3)

# (name, (n, h, w, c), (kh, kw, co), stride): conv_bench's k_cases
CASES = [
    ("seed 1x4x4x1 * 2x2x1x1 s1", (1, 4, 4, 1), (2, 2, 1), 1),
    ("1x56x56x64 * 3x3x64x64 s1", (1, 56, 56, 64), (3, 3, 64), 1),
    ("8x56x56x64 * 3x3x64x64 s1", (8, 56, 56, 64), (3, 3, 64), 1),
    ("1x224x224x3 * 7x7x3x64 s2", (1, 224, 224, 3), (7, 7, 64), 2),
    ("1x56x56x64 * 1x1x64x256 s1", (1, 56, 56, 64), (1, 1, 256), 1),
]


def median_call_s(fn):
    t0 = time.perf_counter()
    warm = 0
    while warm < 3 or time.perf_counter() - t0 < 0.2:
        fn()
        warm += 1
    per = (time.perf_counter() - t0) / warm
    runs = min(max(int(0.5 / per), 7), 2001)
    ts = []
    for _ in range(runs):
        a = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - a)
    return statistics.median(ts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    g = torch.Generator().manual_seed(1)
    res = {}
    for name, (n, h, w, c), (kh, kw, co), s in CASES:
        x = torch.rand(n, c, h, w, generator=g) - 0.5
        x = x.contiguous(memory_format=torch.channels_last)
        wt = (torch.rand(co, c, kh, kw, generator=g) - 0.5).contiguous(
            memory_format=torch.channels_last)
        # SAME: stride 1 pads as TF does ('same'); the stride-2 7x7 case
        # pads 3 on every side, which gives TF's output size (112x112)
        # and the same work
        pad = "same" if s == 1 else (kh // 2)
        ho, wo = -(-h // s), -(-w // s)
        y = F.conv2d(x, wt, stride=s, padding=pad)
        if tuple(y.shape) != (n, co, ho, wo):
            raise SystemExit("torch_conv: %s gave shape %s" %
                             (name, tuple(y.shape)))
        flop = 2.0 * n * ho * wo * co * kh * kw * c
        row = {}
        for threads in (1, 2):
            torch.set_num_threads(threads)
            with torch.no_grad():
                t = median_call_s(lambda: F.conv2d(x, wt, stride=s,
                                                   padding=pad))
            row["us_%d" % threads] = t * 1e6
            row["gflops_%d" % threads] = flop / t / 1e9
        res[name] = row
        print("torch_conv: %-30s 1 thread %10.2f us %8.2f GFLOP/s, "
              "2 threads %10.2f us %8.2f GFLOP/s" %
              (name, row["us_1"], row["gflops_1"], row["us_2"],
               row["gflops_2"]), file=sys.stderr)
    out = {"torch": torch.__version__, "cases": res}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
