#!/usr/bin/env python3
"""Compare weight-init's CPU fill with NumPy's and PyTorch's normal generators, on this machine.

    python3 benches/compare.py                      # default sizes 2^16 .. 2^24, 5 repeats
    python3 benches/compare.py --sizes 2^20,2^24 --repeats 9

Requirements: numpy (benches/requirements.txt); PyTorch is optional and skipped with a message
when it cannot be imported. The weight-init binary is target/release/weight-init, built with
`cargo build --release` when missing (or give --binary).

What runs, for each size n (standard normal float32 values unless said otherwise):

- weight-init: `weight-init bench --device cpu --dtype f32 --scheme normal`, which fills a
  preallocated buffer on all cores (rayon); its JSON rows give the median time.
- numpy Generator: `default_rng().standard_normal(dtype=float32, out=buf)` into a preallocated
  array, one thread (NumPy's generators are single-threaded).
- numpy legacy: `np.random.randn(n)`, which has no dtype or out argument: it allocates and
  returns float64, so it moves twice the bytes of the others.
- torch: `t.normal_()` on a preallocated `torch.empty(n)` (float32), on PyTorch's intra-op
  threads (`torch.get_num_threads()`).

Each Python generator runs once untimed (warm-up), then --repeats timed calls measured with
time.perf_counter(); the table gives millions of samples per second at the median time, as
weight-init bench does, and the best (fastest) call for the Python generators. Ratios are
weight-init over numpy Generator and over torch: above 1 means weight-init is faster.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_BINARY = REPO / "target" / "release" / "weight-init"
DEFAULT_SIZES = "2^16,2^18,2^20,2^22,2^24"


def parse_sizes(text):
    """'2^16,1000' -> [1000, 65536]: counts or powers of two, as weight-init bench takes them."""
    sizes = set()
    for item in text.split(","):
        item = item.strip()
        n = 1 << int(item[2:]) if item.startswith("2^") else int(item)
        if n < 1:
            raise argparse.ArgumentTypeError(f"size {item!r} must be at least 1")
        sizes.add(n)
    return sorted(sizes)


def time_calls(call, repeats):
    """(median, best) wall time in seconds of `repeats` calls after one untimed warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def numpy_generator(n):
    rng = np.random.default_rng(0)
    out = np.empty(n, dtype=np.float32)
    return lambda: rng.standard_normal(dtype=np.float32, out=out)


def numpy_legacy(n):
    np.random.seed(0)
    return lambda: np.random.randn(n)


def torch_normal(torch, n):
    out = torch.empty(n, dtype=torch.float32)
    return lambda: out.normal_()


def weight_init_rows(binary, sizes, repeats):
    """Median M samples/s of `weight-init bench --device cpu` per size, from its JSON rows."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "rows.json"
        command = [
            str(binary), "bench", "--device", "cpu", "--dtype", "f32", "--scheme", "normal",
            "--sizes", ",".join(str(n) for n in sizes), "--repeats", str(repeats),
            "--json", str(report),
        ]
        print("$", " ".join(command[:-1]), "ROWS.json", file=sys.stderr)
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        rows = json.loads(report.read_text())
    return {row["size_elems"]: row for row in rows}


def ensure_binary(binary):
    if binary.exists():
        return
    if binary != DEFAULT_BINARY:
        sys.exit(f"compare.py: {binary} does not exist")
    print("compare.py: building target/release/weight-init with cargo", file=sys.stderr)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=parse_sizes(DEFAULT_SIZES),
                        help=f"element counts, comma-separated, each n or 2^k (default {DEFAULT_SIZES})")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed calls per generator and size, after one warm-up (default 5)")
    parser.add_argument("--binary", type=Path, default=DEFAULT_BINARY,
                        help="the weight-init binary (default target/release/weight-init)")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    try:
        import torch
    except ImportError as e:
        torch = None
        print(f"compare.py: skipping PyTorch ({e}); pip install torch to include it",
              file=sys.stderr)

    ensure_binary(args.binary)
    wi = weight_init_rows(args.binary, args.sizes, args.repeats)

    print(f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs; Python {platform.python_version()}, "
          f"numpy {np.__version__}"
          + (f", torch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else ", no torch"))
    print(f"weight-init: {wi[args.sizes[0]]['path']}; {args.repeats} timed calls per cell after "
          "one warm-up; M samples/s at the median time (best in parentheses)")
    print()
    columns = ["size", "weight-init", "numpy Generator f32", "numpy randn f64", "torch normal_ f32",
               "wi/numpy", "wi/torch"]
    widths = [10, 12, 21, 21, 21, 9, 9]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))

    for n in args.sizes:
        wi_rate = wi[n]["msamples_per_s"]
        cells = {}
        for name, make in [("numpy", numpy_generator), ("legacy", numpy_legacy)] + (
            [("torch", lambda n: torch_normal(torch, n))] if torch else []
        ):
            median, best = time_calls(make(n), args.repeats)
            cells[name] = (n / median / 1e6, n / best / 1e6)

        def cell(name):
            if name not in cells:
                return "skipped"
            median_rate, best_rate = cells[name]
            return f"{median_rate:.1f} ({best_rate:.1f})"

        def ratio(name):
            return f"{wi_rate / cells[name][0]:.2f}x" if name in cells else "n/a"

        values = [str(n), f"{wi_rate:.1f}", cell("numpy"), cell("legacy"), cell("torch"),
                  ratio("numpy"), ratio("torch")]
        print("  ".join(v.rjust(w) for v, w in zip(values, widths)), flush=True)


if __name__ == "__main__":
    main()
