#!/usr/bin/env python3
"""Parity of weight-init's initializers with PyTorch's and JAX's.

Usage: parity.py WEIGHT_INIT_BINARY WORK_DIR

For every case the CLI writes a tensor (safetensors, CPU path) and this script draws the same
initializer from the framework: JAX's own `jax.nn.initializers` when JAX is importable, and
for PyTorch's `torch.nn.init` a NumPy transcription of its code (PyTorch's PyPI wheel bundles
CUDA and is too large to install in CI). Far-tail truncated normals use rejection sampling,
an algorithm independent of our inversion. Checks, each at significance 0.001 with fixed
seeds:

- `ks`: two-sample Kolmogorov-Smirnov, D <= 1.949 sqrt((n + m) / (n m)); sample standard
  deviations within 3.29 combined standard errors (se = s sqrt((kurtosis - 1) / (4 n)));
  every value inside the initializer's support.
- `orthogonal`: W W^T = gain^2 I (rows or columns, whichever are fewer) for ours and the
  framework's, and KS between their entries.
- `exact`: deterministic initializers (eye, dirac, constants) equal element for element;
  delta-orthogonal: the same non-zero pattern and an orthogonal centre.
- `sparse`: the same number of zeros in every column, and KS between the non-zero values.

Prints one line per case and exits non-zero on any failure. Prints a SKIP line (and checks
only the PyTorch cases) when JAX is missing.
"""
import json
import math
import os
import subprocess
import sys

import numpy as np

try:
    import jax
    import jax.numpy as jnp
    from jax.nn import initializers as jinit

    jax.config.update("jax_enable_x64", False)
except ImportError:  # pragma: no cover - reported as SKIP
    jax = None

ALPHA_C = math.sqrt(-math.log(0.001 / 2) / 2)  # 1.949
Z = 3.29
N = 1 << 18


def read_safetensors(path):
    """The one tensor of a safetensors file as float32 (bf16 widened by a 16-bit shift)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    (name,) = [k for k in header if k != "__metadata__"]
    info = header[name]
    start, end = info["data_offsets"]
    data = raw[8 + n + start : 8 + n + end]
    kind = info["dtype"]
    if kind == "F32":
        a = np.frombuffer(data, dtype="<f4")
    elif kind == "F16":
        a = np.frombuffer(data, dtype="<f2").astype(np.float32)
    elif kind == "BF16":
        a = (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        raise ValueError(kind)
    return a.reshape(info["shape"])


def to_dtype(a, dtype):
    """float32 values rounded to nearest even in `dtype`, back as float32."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "f32":
        return a
    if dtype == "f16":
        return a.astype(np.float16).astype(np.float32)
    bits = a.view(np.uint32).astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return (rounded.astype(np.uint32) << 16).view(np.float32)


CASES = iter(range(1 << 30))


def ours(binary, work, shape, scheme, seed, dtype="f32"):
    """Our tensor from the CLI (CPU path), as float32."""
    path = os.path.join(work, f"case-{next(CASES)}.safetensors")
    cmd = [
        binary, "init", "--device", "cpu", "--name", "w", "--seed", str(seed),
        "--shape", ",".join(map(str, shape)), "--scheme", scheme, "--dtype", dtype,
        "--out", path, "--force",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return read_safetensors(path)


# ---- NumPy transcriptions of torch.nn.init (PyTorch 2.5, torch/nn/init.py) ----

def torch_fans(shape):
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def torch_normal(rng, shape, mean=0.0, std=1.0):
    return rng.normal(mean, std, size=shape).astype(np.float32)


def torch_uniform(rng, shape, a=0.0, b=1.0):
    return rng.uniform(a, b, size=shape).astype(np.float32)


def truncated_by_rejection(rng, n, mean, std, a, b):
    """N(mean, std^2) conditioned on [a, b] by rejection: from the normal when the interval
    holds at least 1% of it, else from a shifted exponential proposal (Robert, 1995)."""
    alpha, beta = (a - mean) / std, (b - mean) / std
    mass = 0.5 * (math.erfc(-beta / math.sqrt(2)) - math.erfc(-alpha / math.sqrt(2)))
    out = np.empty(0)
    if mass >= 0.01:
        while out.size < n:
            z = rng.standard_normal(4 * n)
            out = np.concatenate([out, z[(z >= alpha) & (z <= beta)]])
    else:
        # The interval lies in one tail; mirror the lower tail to the upper one.
        flip = beta <= 0
        lo, hi = (-beta, -alpha) if flip else (alpha, beta)
        lam = (lo + math.sqrt(lo * lo + 4)) / 2
        while out.size < n:
            z = lo + rng.exponential(1 / lam, 4 * n)
            keep = rng.uniform(size=z.size) <= np.exp(-((z - lam) ** 2) / 2)
            z = z[keep & (z <= hi)]
            out = np.concatenate([out, -z if flip else z])
    return (mean + std * out[:n]).astype(np.float32)


def torch_orthogonal(rng, shape, gain=1.0):
    rows = shape[0]
    cols = int(np.prod(shape)) // rows
    flat = rng.standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(np.float32)


def torch_sparse(rng, shape, sparsity, std=0.01):
    rows, cols = shape
    zeros = int(math.ceil(sparsity * rows))
    t = rng.normal(0, std, size=shape)
    for c in range(cols):
        t[rng.permutation(rows)[:zeros], c] = 0
    return t.astype(np.float32)


def torch_dirac(shape, groups=1):
    t = np.zeros(shape, dtype=np.float32)
    per_group = shape[0] // groups
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            t[(g * per_group + d, d) + tuple(k // 2 for k in shape[2:])] = 1
    return t


# ---- checks ----

def ks_distance(x, y):
    x, y = np.sort(np.ravel(x)), np.sort(np.ravel(y))
    grid = np.concatenate([x, y])
    fx = np.searchsorted(x, grid, side="right") / x.size
    fy = np.searchsorted(y, grid, side="right") / y.size
    return float(np.max(np.abs(fx - fy)))


def std_se(a):
    a = np.asarray(a, dtype=np.float64).ravel()
    s = a.std()
    kurt = np.mean((a - a.mean()) ** 4) / s**4 if s > 0 else 3.0
    return s, s * math.sqrt(max(kurt - 1, 0.0) / (4 * a.size))


def check_ks(mine, ref, support=None):
    mine, ref = np.ravel(mine), np.ravel(ref)
    d = ks_distance(mine, ref)
    crit = ALPHA_C * math.sqrt((mine.size + ref.size) / (mine.size * ref.size))
    (s1, e1), (s2, e2) = std_se(mine), std_se(ref)
    problems = []
    if d > crit:
        problems.append(f"KS D {d:.5f} > {crit:.5f}")
    if abs(s1 - s2) > Z * math.hypot(e1, e2):
        problems.append(f"std {s1:.6g} vs {s2:.6g} (bound {Z * math.hypot(e1, e2):.3g})")
    if support is not None:
        lo, hi = support
        if mine.min() < lo or mine.max() > hi:
            problems.append(f"ours leaves [{lo}, {hi}]: {mine.min()} .. {mine.max()}")
    return problems, f"D {d:.4f}/{crit:.4f}, std {s1:.5g} vs {s2:.5g}"


def gram_error(w, gain, column_axis=None):
    """max |M M^T - gain^2 I| over the smaller side of the matrix view of w."""
    if column_axis is None:  # PyTorch: (shape[0], rest)
        m = w.reshape(w.shape[0], -1)
    else:  # JAX: columns along column_axis, rows the rest
        m = np.moveaxis(w, column_axis, -1).reshape(-1, w.shape[column_axis])
    m = m.astype(np.float64)
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return float(np.max(np.abs(g - gain**2 * np.eye(g.shape[0]))))


def main():
    binary, work = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(20261203)
    failures = []

    def report(case, problems, detail):
        status = "FAIL" if problems else "ok"
        print(f"{status:4} {case}: {detail}{'; ' + '; '.join(problems) if problems else ''}")
        if problems:
            failures.append(case)

    # -- PyTorch semantics (NumPy transcription) --
    torch_cases = [
        ("normal_(mean=0.5, std=2)", [512, 512], "normal(mean=0.5, std=2)",
         lambda s: torch_normal(rng, s, 0.5, 2.0), None),
        ("normal_ 1-D", [N], "normal(std=0.3)", lambda s: torch_normal(rng, s, 0, 0.3), None),
        ("uniform_(a=-1, b=3)", [512, 512], "uniform(low=-1, high=3)",
         lambda s: torch_uniform(rng, s, -1, 3), (-1, 3)),
        ("kaiming_normal_ conv", [64, 3, 7, 7], "he",
         lambda s: torch_normal(rng, s, 0, math.sqrt(2) / math.sqrt(torch_fans(s)[0])), None),
        ("kaiming_uniform_ grouped", [4, 1, 3, 3], "he-uniform",
         lambda s: torch_uniform(rng, s, -math.sqrt(2) * math.sqrt(3 / 9), math.sqrt(2) * math.sqrt(3 / 9)),
         (-math.sqrt(6 / 9), math.sqrt(6 / 9))),
        ("kaiming_normal_(mode=fan_out, nonlinearity=tanh)", [256, 1024],
         "he(mode=fan_out, nonlinearity=tanh)",
         lambda s: torch_normal(rng, s, 0, 5 / 3 / math.sqrt(256)), None),
        ("kaiming_normal_ ConvTranspose weight", [16, 8, 3, 3], "he",
         lambda s: torch_normal(rng, s, 0, math.sqrt(2 / (8 * 9))), None),
        # Our transposed layout: (in, out, *k) read as such, fan_in = 16 * 9.
        ("transposed fans (ours)", [16, 8, 3, 3], "he(transposed=true)",
         lambda s: torch_normal(rng, s, 0, math.sqrt(2 / (16 * 9))), None),
        ("xavier_normal_ conv", [64, 3, 7, 7], "xavier",
         lambda s: torch_normal(rng, s, 0, math.sqrt(2 / sum(torch_fans(s)))), None),
        ("xavier_uniform_(gain=2)", [256, 1024], "xavier-uniform(gain=2)",
         lambda s: torch_uniform(rng, s, -2 * math.sqrt(6 / 1280), 2 * math.sqrt(6 / 1280)),
         (-2 * math.sqrt(6 / 1280), 2 * math.sqrt(6 / 1280))),
        ("trunc_normal_()", [512, 512], "trunc-normal",
         lambda s: truncated_by_rejection(rng, N, 0, 1, -2, 2), (-2, 2)),
        ("trunc_normal_(mean=1, std=1, a=-1, b=1.5)", [512, 512],
         "trunc-normal(mean=1, std=1, a=-1, b=1.5)",
         lambda s: truncated_by_rejection(rng, N, 1, 1, -1, 1.5), (-1, 1.5)),
    ]
    for case, shape, scheme, reference, support in torch_cases:
        mine = ours(binary, work, shape, scheme, 11)
        problems, detail = check_ks(mine, reference(shape), support)
        report(f"torch {case} {shape}", problems, detail)

    # Far-tail truncated normals in every dtype, against rejection sampling.
    for case, scheme, (mean, std, a, b) in [
        ("std 0.002, bounds +-2", "trunc-normal(std=0.002, a=-2, b=2)", (0, 0.002, -2, 2)),
        ("a = 5.5 std", "trunc-normal(a=5.5, b=inf)", (0, 1, 5.5, math.inf)),
        ("a = 5.5, b = 6", "trunc-normal(a=5.5, b=6)", (0, 1, 5.5, 6)),
        ("lower tail", "trunc-normal(mean=3, std=0.5, a=0.2, b=0.7)", (3, 0.5, 0.2, 0.7)),
    ]:
        reference = truncated_by_rejection(rng, N, mean, std, a, b)
        for dtype in ["f32", "f16", "bf16"]:
            mine = ours(binary, work, [N], scheme, 12, dtype)
            problems, detail = check_ks(mine, to_dtype(reference, dtype), (a, b))
            report(f"torch trunc_normal_ {case} {dtype}", problems, detail)

    # Orthogonal: property on both, KS between entries.
    for shape, gain in [([64, 3, 7, 7], 2.0), ([300, 100], 1.0)]:
        mine = ours(binary, work, shape, f"orthogonal(gain={gain})", 13)
        ref = torch_orthogonal(rng, shape, gain)
        problems, detail = check_ks(mine, ref)
        err_mine, err_ref = gram_error(mine, gain), gram_error(ref, gain)
        if err_mine > 1e-5:
            problems.append(f"ours |W W^T - g^2 I| = {err_mine:.2e}")
        report(f"torch orthogonal_(gain={gain}) {shape}", problems,
               f"{detail}, gram error ours {err_mine:.1e} numpy {err_ref:.1e}")

    # sparse_: zeros per column, then the non-zero values.
    shape, sparsity = [200, 300], 0.3
    mine = ours(binary, work, shape, f"sparse(sparsity={sparsity}, std=0.05)", 14)
    ref = torch_sparse(rng, shape, sparsity, 0.05)
    problems, detail = check_ks(mine[mine != 0], ref[ref != 0])
    zeros_mine, zeros_ref = (mine == 0).sum(axis=0), (ref == 0).sum(axis=0)
    if not np.array_equal(zeros_mine, zeros_ref):
        problems.append(f"zeros per column {set(zeros_mine)} vs {set(zeros_ref)}")
    report(f"torch sparse_(sparsity={sparsity}) {shape}", problems,
           f"{detail}, {zeros_mine[0]} zeros per column")

    # Deterministic ones and the zero-element no-op.
    for case, shape, scheme, expected in [
        ("eye_", [3, 5], "eye", np.eye(3, 5, dtype=np.float32)),
        ("dirac_(groups=2)", [4, 3, 4, 4], "dirac(groups=2)", torch_dirac([4, 3, 4, 4], 2)),
        ("dirac_ 3-D", [6, 2, 5], "dirac", torch_dirac([6, 2, 5])),
        ("ones_", [7, 3], "ones", np.ones((7, 3), np.float32)),
        ("constant_(val=-0.25)", [4], "constant(value=-0.25)", np.full(4, -0.25, np.float32)),
        ("kaiming_normal_ on zero elements", [0, 5], "he", np.zeros((0, 5), np.float32)),
    ]:
        mine = ours(binary, work, shape, scheme, 15)
        same = mine.shape == expected.shape and np.array_equal(mine, expected)
        report(f"torch {case} {shape}", [] if same else ["values differ"], "exact")

    if jax is None:
        print("SKIP jax parity: jax is not importable (pip install jax)")
    else:
        key = jax.random.key(20261203)

        def draw(initializer, shape):
            nonlocal key
            key, sub = jax.random.split(key)
            return np.asarray(initializer(sub, tuple(shape), jnp.float32))

        jax_cases = [
            ("glorot_normal", [256, 512], "jax-glorot-normal", jinit.glorot_normal()),
            ("glorot_uniform", [256, 512], "jax-glorot-uniform", jinit.glorot_uniform()),
            ("he_normal HWIO", [7, 7, 3, 64], "jax-he-normal", jinit.he_normal()),
            ("he_uniform", [300, 200], "jax-he-uniform", jinit.he_uniform()),
            ("lecun_normal", [300, 200], "jax-lecun-normal", jinit.lecun_normal()),
            ("lecun_uniform", [300, 200], "jax-lecun-uniform", jinit.lecun_uniform()),
            ("variance_scaling fan_geo_avg normal", [64, 4096],
             "variance-scaling(scale=0.5, mode=fan_geo_avg, distribution=normal)",
             jinit.variance_scaling(0.5, "fan_geo_avg", "normal")),
            ("variance_scaling PyTorch layout", [64, 3, 7, 7],
             "variance-scaling(scale=2, mode=fan_out, distribution=truncated_normal, in_axis=1, out_axis=0)",
             jinit.variance_scaling(2.0, "fan_out", "truncated_normal", in_axis=1, out_axis=0)),
            ("variance_scaling batch_axis", [4, 256, 256],
             "variance-scaling(scale=1, mode=fan_avg, distribution=uniform, batch_axis=0)",
             jinit.variance_scaling(1.0, "fan_avg", "uniform", batch_axis=0)),
            ("variance_scaling multi-axis", [8, 8, 64, 64],
             "variance-scaling(scale=1, mode=fan_in, distribution=normal, in_axis=(0, 2), out_axis=3)",
             jinit.variance_scaling(1.0, "fan_in", "normal", in_axis=(0, 2), out_axis=3)),
            ("truncated_normal", [512, 512], "jax-truncated-normal(stddev=0.5, lower=-1, upper=3)",
             jinit.truncated_normal(0.5, lower=-1.0, upper=3.0)),
            ("normal", [512, 512], "jax-normal", jinit.normal()),
            ("uniform(scale=3)", [512, 512], "jax-uniform(scale=3)", jinit.uniform(3.0)),
        ]
        for case, shape, scheme, initializer in jax_cases:
            mine = ours(binary, work, shape, scheme, 21)
            problems, detail = check_ks(mine, draw(initializer, shape))
            report(f"jax {case} {shape}", problems, detail)

        for shape, scale, axis in [([128, 96], 2.0, -1), ([16, 3, 3, 4], 1.0, 0)]:
            mine = ours(binary, work, shape, f"jax-orthogonal(scale={scale}, column_axis={axis})", 22)
            ref = draw(jinit.orthogonal(scale, column_axis=axis), shape)
            problems, detail = check_ks(mine, ref)
            err_mine, err_ref = gram_error(mine, scale, axis), gram_error(ref, scale, axis)
            if err_mine > 1e-5:
                problems.append(f"ours |W W^T - s^2 I| = {err_mine:.2e}")
            report(f"jax orthogonal(scale={scale}, column_axis={axis}) {shape}", problems,
                   f"{detail}, gram error ours {err_mine:.1e} jax {err_ref:.1e}")

        for shape in [[3, 3, 4, 6], [4, 2, 3, 3], [2, 5, 5]]:
            mine = ours(binary, work, shape, "jax-delta-orthogonal", 23)
            ref = draw(jinit.delta_orthogonal(), shape)
            problems = []
            if not np.array_equal(mine != 0, ref != 0):
                problems.append("non-zero patterns differ")
            centre = tuple((k - 1) // 2 for k in shape[:-2])
            err = gram_error(mine[centre], 1.0)
            if err > 1e-5:
                problems.append(f"centre not orthogonal: {err:.1e}")
            report(f"jax delta_orthogonal {shape}", problems, f"centre {centre}, gram error {err:.1e}")

        for case, shape, scheme, initializer in [
            ("zeros", [3, 4], "zeros", jinit.zeros),
            ("ones", [3, 4], "ones", jinit.ones),
            ("constant(-0.25)", [5], "constant(value=-0.25)", jinit.constant(-0.25)),
        ]:
            mine = ours(binary, work, shape, scheme, 24)
            same = np.array_equal(mine, draw(initializer, shape))
            report(f"jax {case} {shape}", [] if same else ["values differ"], "exact")

    print(f"{len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
