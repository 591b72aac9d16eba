#!/usr/bin/env python3
"""Parity of weight-init's initializers with PyTorch's and JAX's, the frameworks themselves.

Usage: parity.py WEIGHT_INIT_BINARY WORK_DIR GAINS_JSON

For every case the CLI writes tensors (safetensors, CPU path) and this script draws the same
initializer from `torch.nn.init` (PyTorch on the CPU) or `jax.nn.initializers` (JAX on the
CPU) for the same shape and parameters. A tensor too small for the statistics is drawn K
times on both sides (K tensors of that shape in one CLI run, each on its own stream; K calls
of the framework) so that each side has at least TARGET values. Fixed seeds; every check at
significance ALPHA = 0.001:

- `ks`: two-sample Kolmogorov-Smirnov, D <= c sqrt((n + m) / (n m)) with
  c = sqrt(-ln(ALPHA / 2) / 2) = 1.949; sample standard deviations within Z = 3.29
  (the normal quantile 1 - ALPHA / 2) combined standard errors, se = s sqrt((kurtosis - 1) /
  (4 n)); every value inside the support. Uniform schemes also check the bound: for
  U(lo, hi), P(max < hi - w) = (1 - w / (hi - lo))^n, so with w = (hi - lo) ln(2 / ALPHA) / n
  both the minimum and the maximum lie within w of PyTorch's bounds.
- `orthogonal`: W W^T = gain^2 I (rows or columns, whichever are fewer) for ours to
  1e-5 gain^2, and KS between our entries and the framework's.
- `exact`: deterministic initializers (eye, dirac, constants, zero-element tensors) equal
  PyTorch's or JAX's tensor element for element, shape included.
- `sparse`: the same number of zeros in every column, and KS between the non-zero values.
- `shapes`: for 1-D, zero-element and wrong-rank shapes, PyTorch (or JAX) accepts the shape
  exactly when we do. Where the framework crashes (ZeroDivisionError on a zero fan,
  IndexError on a zero-size kernel dimension) rather than refusing the shape, ours writes the
  empty tensor: printed as a `note`, not a failure.
- `gain`: `torch.nn.init.calculate_gain(name, param)` equals our gain (GAINS_JSON, written by
  tests/parity.rs from the library's table) to 1 ulp, for every name either side knows.

Far-tail truncated normals are compared with PyTorch's `trunc_normal_` on a float64 tensor,
rounded to f32 and then to the dtype under test: its rejection sampler computes densities in
the tensor's dtype, which in bf16 visibly shifts the distribution, and we round from f32.

Prints one line per case and exits 1 on any failure. A missing torch or jax is a failure when
WEIGHT_INIT_REQUIRE_PYTHON=1; otherwise the script prints a line `SKIP torch parity: ...` (or
`SKIP jax parity: ...`) and checks the other framework.
"""
import json
import math
import os
import statistics
import subprocess
import sys
import typing
import warnings

import numpy as np

REQUIRED = os.environ.get("WEIGHT_INIT_REQUIRE_PYTHON") == "1"

try:
    import torch
    from torch.nn import init as tinit
except ImportError as e:  # reported below: SKIP, or a failure when required
    torch, TORCH_MISSING = None, str(e)

try:
    import jax
    import jax.numpy as jnp
    from jax.nn import initializers as jinit

    jax.config.update("jax_enable_x64", False)
except ImportError as e:
    jax, JAX_MISSING = None, str(e)

ALPHA = 0.001
C_KS = math.sqrt(-math.log(ALPHA / 2) / 2)  # 1.949
Z = statistics.NormalDist().inv_cdf(1 - ALPHA / 2)  # 3.29
N = 1 << 18  # values per side for 1-D and large draws
TARGET = 1 << 17  # at least this many values per side for small shapes
SEED = 20261203


class CaseError(Exception):
    """A case that could not run (the CLI refused it, a framework raised)."""


def read_safetensors(path):
    """The tensors of a safetensors file as float32 arrays (bf16 widened by a 16-bit shift),
    by name."""
    with open(path, "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
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
        tensors[name] = a.reshape(info["shape"])
    return tensors


CASES = iter(range(1 << 30))


def cli(binary, work, shape, scheme, seed, dtype="f32", count=1):
    """Runs `weight-init init` for `count` tensors of `shape` (named W1, W2, ..., so each has
    its own stream); the completed process and the output path."""
    path = os.path.join(work, f"case-{next(CASES)}.safetensors")
    cmd = [binary, "init", "--device", "cpu", "--seed", str(seed), "--scheme", scheme,
           "--dtype", dtype, "--out", path, "--force"]
    for _ in range(count):
        cmd += ["--shape", ",".join(map(str, shape))]
    return subprocess.run(cmd, capture_output=True, text=True), path


def ours(binary, work, shape, scheme, seed, dtype="f32", count=1):
    """Our `count` tensors of `shape`, stacked along a new first axis, as float32."""
    done, path = cli(binary, work, shape, scheme, seed, dtype, count)
    if done.returncode != 0:
        raise CaseError(f"weight-init refused {scheme} on {shape}: {done.stderr.strip()}")
    tensors = read_safetensors(path)
    return np.stack([tensors[f"W{i + 1}"] for i in range(count)])


def repeats(shape, target=TARGET):
    """Tensors of `shape` to draw for at least `target` values (1 to 4096)."""
    numel = math.prod(shape)
    return max(1, min(4096, math.ceil(target / max(numel, 1))))


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


def check_ks(mine, ref, support=None, bounds=None):
    """KS and std of `mine` against `ref`; `support` (lo, hi) every value of ours must lie in;
    `bounds` (lo, hi) of a uniform distribution, whose extremes ours must approach."""
    mine = np.ravel(mine).astype(np.float64)
    ref = np.ravel(ref).astype(np.float64)
    d = ks_distance(mine, ref)
    crit = C_KS * math.sqrt((mine.size + ref.size) / (mine.size * ref.size))
    (s1, e1), (s2, e2) = std_se(mine), std_se(ref)
    std_bound = Z * math.hypot(e1, e2)
    problems = []
    if d > crit:
        problems.append(f"KS D {d:.5f} > {crit:.5f}")
    if abs(s1 - s2) > std_bound:
        problems.append(f"|std {s1:.6g} - {s2:.6g}| = {abs(s1 - s2):.3g} > {std_bound:.3g}")
    detail = f"D {d:.4f} <= {crit:.4f}, std {s1:.5g} vs {s2:.5g} (+-{std_bound:.2g})"
    if bounds is not None:
        support = support or bounds
        lo, hi = bounds
        w = (hi - lo) * math.log(2 / ALPHA) / mine.size
        gap_lo, gap_hi = mine.min() - lo, hi - mine.max()
        if not (gap_lo <= w and gap_hi <= w):
            problems.append(f"extremes {mine.min():.7g} .. {mine.max():.7g} are more than "
                            f"{w:.3g} inside PyTorch's bounds [{lo:.7g}, {hi:.7g}]")
        detail += f", bounds +-{max(abs(lo), abs(hi)):.6g} reached to {max(gap_lo, gap_hi):.2g} <= {w:.2g}"
    if support is not None:
        lo, hi = support
        if mine.min() < lo or mine.max() > hi:
            problems.append(f"ours leaves [{lo}, {hi}]: {mine.min()} .. {mine.max()}")
    return problems, detail


def gram_error(w, gain, column_axis=None):
    """max |M M^T - gain^2 I| over the smaller side of the matrix view of w."""
    if column_axis is None:  # PyTorch: (shape[0], rest)
        m = w.reshape(w.shape[0], -1)
    else:  # JAX: columns along column_axis, rows the rest
        m = np.moveaxis(w, column_axis, -1).reshape(-1, w.shape[column_axis])
    m = m.astype(np.float64)
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    return float(np.max(np.abs(g - gain**2 * np.eye(g.shape[0]))))


def f32(x):
    return float(np.float32(x))


class Report:
    def __init__(self):
        self.failures = []

    def __call__(self, case, problems, detail):
        status = "FAIL" if problems else "ok"
        print(f"{status:4} {case}: {detail}{'; ' + '; '.join(problems) if problems else ''}",
              flush=True)
        if problems:
            self.failures.append(case)

    def run(self, case, check):
        """Runs `check()` -> (problems, detail); an exception is this case's failure."""
        try:
            problems, detail = check()
        except Exception as e:  # noqa: BLE001 - every error is this case's failure
            problems, detail = [f"{type(e).__name__}: {e}"], "error"
        self(case, problems, detail)

    def note(self, case, detail):
        print(f"note {case}: {detail}", flush=True)


# ---- PyTorch ----

def torch_draw(fn, shape, count=1, dtype=None):
    """`count` tensors of `shape`, each filled by `fn(tensor)`, stacked, as float32."""
    dtype = dtype or torch.float32
    out = []
    for _ in range(count):
        t = torch.empty(shape, dtype=dtype)
        fn(t)
        out.append(t.float().numpy().copy())
    return np.stack(out)


def torch_accepts(fn, shape):
    """None if `fn` fills a float32 tensor of `shape`, else the exception it raises."""
    try:
        fn(torch.empty(shape))
    except Exception as e:  # noqa: BLE001 - any refusal counts
        return e
    return None


def by_groups(fn, groups, transposed=False):
    """Applies `fn` to each group's weight: dims 0 of a grouped conv weight split `groups`
    ways, each part read as (out, in, *k) (transposed: (in, out, *k), swapped to that)."""
    def apply(t):
        for part in t.chunk(groups, dim=0):
            fn(part.transpose(0, 1) if transposed else part)
    return apply


def torch_parity(binary, work, report, gains_path):
    torch.manual_seed(SEED)
    I = tinit
    sqrt5 = math.sqrt(5)
    # (case, shape, our scheme, fill of a torch tensor of that shape, uniform bounds or None,
    # support or None). Shapes: linear (out, in); Conv2d (out, in, k, k) (64, 3, 7, 7);
    # Conv1d (32, 16, 5); a depthwise Conv2d(4, 4, 3, groups=4) weight (4, 1, 3, 3); a
    # Conv2d(8, 16, 3, groups=4) weight (16, 2, 3, 3); a ConvTranspose2d(16, 8, 3) weight
    # (in, out, k, k) (16, 8, 3, 3); a ConvTranspose2d(8, 4, 3, groups=2) weight (8, 2, 3, 3).
    b_tanh = 5 / 3 * math.sqrt(3 / 128)
    cases = [
        ("normal_(mean=0.5, std=2)", [512, 512], "normal(mean=0.5, std=2)",
         lambda t: I.normal_(t, 0.5, 2.0), None, None),
        ("normal_(std=0.3) 1-D", [N], "normal(std=0.3)", lambda t: I.normal_(t, 0, 0.3), None, None),
        ("uniform_(a=-1, b=3)", [512, 512], "uniform(low=-1, high=3)",
         lambda t: I.uniform_(t, -1, 3), (-1, 3), None),
        ("uniform_() 1-D", [N], "uniform", lambda t: I.uniform_(t), (0, 1), None),
        ("trunc_normal_()", [512, 512], "trunc-normal", lambda t: I.trunc_normal_(t), None, (-2, 2)),
        ("trunc_normal_(mean=1, std=1, a=-1, b=1.5)", [512, 512],
         "trunc-normal(mean=1, std=1, a=-1, b=1.5)",
         lambda t: I.trunc_normal_(t, 1, 1, -1, 1.5), None, (-1, 1.5)),
        ("trunc_normal_(std=0.02, a=-0.04, b=0.04) 1-D", [N],
         "trunc-normal(std=0.02, a=-0.04, b=0.04)",
         lambda t: I.trunc_normal_(t, 0, 0.02, -0.04, 0.04), None, (-0.04, 0.04)),
        ("kaiming_normal_ Conv2d", [64, 3, 7, 7], "he", lambda t: I.kaiming_normal_(t), None, None),
        ("kaiming_uniform_(a=sqrt(5)) Conv2d (nn.Conv2d's default)", [64, 3, 7, 7],
         f"he-uniform(a={sqrt5!r})", lambda t: I.kaiming_uniform_(t, a=sqrt5),
         (-math.sqrt(6 / (1 + 5) / 147), math.sqrt(6 / (1 + 5) / 147)), None),
        ("kaiming_normal_(mode=fan_out, nonlinearity=tanh)", [256, 1024],
         "he(mode=fan_out, nonlinearity=tanh)",
         lambda t: I.kaiming_normal_(t, mode="fan_out", nonlinearity="tanh"), None, None),
        ("kaiming_normal_(a=0.2, nonlinearity=leaky_relu)", [256, 1024],
         "he(nonlinearity=leaky_relu, a=0.2)",
         lambda t: I.kaiming_normal_(t, a=0.2, nonlinearity="leaky_relu"), None, None),
        ("kaiming_uniform_(nonlinearity=tanh)", [64, 128], "he-uniform(nonlinearity=tanh)",
         lambda t: I.kaiming_uniform_(t, nonlinearity="tanh"), (-b_tanh, b_tanh), None),
        ("kaiming_uniform_(nonlinearity=selu)", [300, 200], "he-uniform(nonlinearity=selu)",
         lambda t: I.kaiming_uniform_(t, nonlinearity="selu"),
         (-0.75 * math.sqrt(3 / 200), 0.75 * math.sqrt(3 / 200)), None),
        ("kaiming_normal_(mode=fan_out, nonlinearity=linear)", [300, 200],
         "he(mode=fan_out, nonlinearity=linear)",
         lambda t: I.kaiming_normal_(t, mode="fan_out", nonlinearity="linear"), None, None),
        ("kaiming_normal_(nonlinearity=sigmoid) Conv1d", [32, 16, 5],
         "he(nonlinearity=sigmoid)",
         lambda t: I.kaiming_normal_(t, nonlinearity="sigmoid"), None, None),
        ("xavier_normal_ Conv2d", [64, 3, 7, 7], "xavier", lambda t: I.xavier_normal_(t), None, None),
        ("xavier_uniform_(gain=2)", [256, 1024], "xavier-uniform(gain=2)",
         lambda t: I.xavier_uniform_(t, gain=2),
         (-2 * math.sqrt(6 / 1280), 2 * math.sqrt(6 / 1280)), None),
        ("xavier_normal_(gain=calculate_gain('tanh')) Conv1d", [32, 16, 5], "xavier(gain=5/3)",
         lambda t: I.xavier_normal_(t, gain=I.calculate_gain("tanh")), None, None),
        # Grouped: PyTorch reads dims 0 and 1 as they are (fan_out = 4 * 9 for the depthwise
        # weight); our default does too, and `groups=g` gives each group's own fans, which
        # are PyTorch's on one group's weight (out / g, in / g, *k).
        ("kaiming_uniform_ depthwise (PyTorch's fans, fan_in 9)", [4, 1, 3, 3], "he-uniform",
         lambda t: I.kaiming_uniform_(t), (-math.sqrt(6 / 9), math.sqrt(6 / 9)), None),
        ("kaiming_uniform_ depthwise, groups=4: fan_in unchanged", [4, 1, 3, 3],
         "he-uniform(groups=4)", lambda t: I.kaiming_uniform_(t),
         (-math.sqrt(6 / 9), math.sqrt(6 / 9)), None),
        ("kaiming_normal_(mode=fan_out) depthwise (PyTorch's fans, fan_out 36)", [4, 1, 3, 3],
         "he(mode=fan_out)", lambda t: I.kaiming_normal_(t, mode="fan_out"), None, None),
        ("groups=4: kaiming_normal_(mode=fan_out) per group (fan_out 9)", [4, 1, 3, 3],
         "he(mode=fan_out, groups=4)",
         by_groups(lambda p: I.kaiming_normal_(p, mode="fan_out"), 4), None, None),
        ("groups=4: xavier_normal_ per group", [4, 1, 3, 3], "xavier(groups=4)",
         by_groups(I.xavier_normal_, 4), None, None),
        ("groups=4: kaiming_normal_(mode=fan_out) per group, Conv2d(8, 16, groups=4)",
         [16, 2, 3, 3], "he(mode=fan_out, groups=4)",
         by_groups(lambda p: I.kaiming_normal_(p, mode="fan_out"), 4), None, None),
        # Transposed: PyTorch reads a ConvTranspose weight (in, out, *k) as (out, in, *k),
        # and so does our default; `transposed=true` gives the fans of the (out, in, *k)
        # view, which PyTorch computes on the transposed tensor.
        ("kaiming_normal_ ConvTranspose2d (PyTorch's fans, fan_in 8 * 9)", [16, 8, 3, 3], "he",
         lambda t: I.kaiming_normal_(t), None, None),
        ("transposed=true: kaiming_normal_ on the transposed view (fan_in 16 * 9)",
         [16, 8, 3, 3], "he(transposed=true)",
         lambda t: I.kaiming_normal_(t.transpose(0, 1)), None, None),
        ("transposed=true, groups=2: xavier_uniform_ per group's transposed view",
         [8, 2, 3, 3], "xavier-uniform(transposed=true, groups=2)",
         by_groups(I.xavier_uniform_, 2, transposed=True),
         (-math.sqrt(6 / 54), math.sqrt(6 / 54)), None),
        ("transposed=true, groups=2: kaiming_normal_(mode=fan_out) per group's transposed view",
         [8, 2, 3, 3], "he(mode=fan_out, transposed=true, groups=2)",
         by_groups(lambda p: I.kaiming_normal_(p, mode="fan_out"), 2, transposed=True),
         None, None),
    ]
    for case, shape, scheme, fill, bounds, support in cases:
        def check():
            k = repeats(shape)
            mine = ours(binary, work, shape, scheme, 11, count=k)
            ref = torch_draw(fill, shape, k)
            b = None if bounds is None else (-f32(-bounds[0]), f32(bounds[1]))
            return check_ks(mine, ref, support, b)
        report.run(f"torch {case} {shape}", check)

    # bf16 uniform at a bound that is no bf16 value: the extremes of both, for the record.
    def bf16_uniform():
        lo, hi = -0.244949, 0.244949
        mine = ours(binary, work, [N], f"uniform(low={lo}, high={hi})", 16, "bf16")
        ref = torch_draw(lambda t: I.uniform_(t, lo, hi), [N], 1, torch.bfloat16)
        problems, detail = check_ks(mine, ref)
        return problems, (f"{detail}; extremes ours {mine.min():.7g} .. {mine.max():.7g}, "
                          f"torch {ref.min():.7g} .. {ref.max():.7g}")
    report.run("torch uniform_(a=-0.244949, b=0.244949) bf16", bf16_uniform)

    # Far-tail truncated normals in every dtype, against trunc_normal_ in float64.
    for case, (mean, std, a, b) in [
        ("std 0.002, bounds +-2", (0, 0.002, -2, 2)),
        ("a = 5.5 std, b = inf", (0, 1, 5.5, math.inf)),
        ("a = 5.5, b = 6", (0, 1, 5.5, 6)),
        ("lower tail", (3, 0.5, 0.2, 0.7)),
    ]:
        scheme = f"trunc-normal(mean={mean}, std={std}, a={a}, b={b})"
        ref_b = b
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "mean is more than 2 std from [a, b]"
                ref = torch_draw(lambda t: I.trunc_normal_(t, mean, std, a, b), [N], 1,
                                 torch.float64)
        except RuntimeError as e:
            # PyTorch's uniform proposal (for intervals holding <= 30% of the normal) needs
            # finite bounds. 4 std further the normal's mass is 1e-13 of that beyond a.
            ref_b = a + 4 * std
            report.note(f"torch trunc_normal_ {case}",
                        f"PyTorch refuses b = {b} ({e}); reference drawn with b = {ref_b}")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref = torch_draw(lambda t: I.trunc_normal_(t, mean, std, a, ref_b), [N], 1,
                                 torch.float64)
        for dtype, tdtype in [("f32", None), ("f16", torch.float16), ("bf16", torch.bfloat16)]:
            def check():
                mine = ours(binary, work, [N], scheme, 12, dtype)
                rounded = torch.from_numpy(ref).float()
                if tdtype is not None:
                    rounded = rounded.to(tdtype).float()
                return check_ks(mine, rounded.numpy(), (a, b))
            report.run(f"torch trunc_normal_ {case} {dtype}", check)

    # orthogonal_: the property on ours, KS between entries.
    for shape, gain in [([64, 3, 7, 7], 2.0), ([300, 100], 1.0), ([50, 50], 1.0)]:
        def check():
            k = repeats(shape, 1 << 15)
            mine = ours(binary, work, shape, f"orthogonal(gain={gain})", 13, count=k)
            ref = torch_draw(lambda t: I.orthogonal_(t, gain), shape, k)
            problems, detail = check_ks(mine, ref)
            err_mine = max(gram_error(w, gain) for w in mine)
            err_ref = max(gram_error(w, gain) for w in ref)
            if err_mine > 1e-5 * gain**2:
                problems.append(f"ours |W W^T - g^2 I| = {err_mine:.2e} > {1e-5 * gain**2:.0e}")
            return problems, f"{detail}, gram error ours {err_mine:.1e} torch {err_ref:.1e}"
        report.run(f"torch orthogonal_(gain={gain}) {shape}", check)

    # sparse_: zeros per column (ceil(0.1 * 30) is 4 in floating point, as in PyTorch), then
    # the non-zero values.
    for shape, sparsity, std in [([200, 300], 0.3, 0.05), ([30, 50], 0.1, 0.01)]:
        def check():
            scheme = f"sparse(sparsity={sparsity}, std={std})"
            mine = ours(binary, work, shape, scheme, 14)[0]
            ref = torch_draw(lambda t: I.sparse_(t, sparsity, std), shape)[0]
            problems, detail = check_ks(mine[mine != 0], ref[ref != 0])
            zeros_mine, zeros_ref = (mine == 0).sum(axis=0), (ref == 0).sum(axis=0)
            if not np.array_equal(zeros_mine, zeros_ref):
                problems.append(f"zeros per column {sorted(set(zeros_mine))} vs "
                                f"{sorted(set(zeros_ref))}")
            return problems, f"{detail}, {zeros_mine[0]} zeros per column"
        report.run(f"torch sparse_(sparsity={sparsity}, std={std}) {shape}", check)

    # Deterministic fills and zero-element tensors: element for element.
    exact = [
        ("eye_", [3, 5], "eye", I.eye_),
        ("eye_", [5, 3], "eye", I.eye_),
        ("eye_ zero-element", [0, 4], "eye", I.eye_),
        ("dirac_(groups=2)", [4, 3, 4, 4], "dirac(groups=2)", lambda t: I.dirac_(t, 2)),
        ("dirac_(groups=3) even kernel", [6, 1, 2, 2], "dirac(groups=3)", lambda t: I.dirac_(t, 3)),
        ("dirac_ 3-D", [6, 2, 5], "dirac", I.dirac_),
        ("dirac_ 5-D", [4, 4, 3, 3, 3], "dirac", I.dirac_),
        ("dirac_ zero-element", [0, 3, 3], "dirac", I.dirac_),
        ("ones_", [7, 3], "ones", I.ones_),
        ("zeros_", [2, 3, 4], "zeros", I.zeros_),
        ("constant_(val=-0.25) 1-D", [4], "constant(value=-0.25)", lambda t: I.constant_(t, -0.25)),
        ("constant_(val=0.1)", [2, 3], "constant(value=0.1)", lambda t: I.constant_(t, 0.1)),
        ("normal_(mean=0.5, std=0)", [3, 3], "normal(mean=0.5, std=0)",
         lambda t: I.normal_(t, 0.5, 0.0)),
        ("normal_ zero-element 1-D", [0], "normal", I.normal_),
        ("uniform_ zero-element", [2, 0, 3], "uniform", I.uniform_),
        ("trunc_normal_ zero-element", [0, 7], "trunc-normal", I.trunc_normal_),
        ("kaiming_normal_ zero-element", [0, 5], "he", I.kaiming_normal_),
        ("kaiming_uniform_ zero-element 1-D", [0], "he-uniform", I.kaiming_uniform_),
        ("xavier_normal_ zero-element", [0, 5], "xavier", I.xavier_normal_),
        ("orthogonal_ zero-element", [0, 5], "orthogonal", I.orthogonal_),
        ("orthogonal_ zero-element", [5, 0], "orthogonal", I.orthogonal_),
        ("sparse_ zero-element", [0, 5], "sparse(sparsity=0.5)", lambda t: I.sparse_(t, 0.5)),
    ]
    for case, shape, scheme, fill in exact:
        def check():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "Initializing zero-element tensors is a no-op"
                expected = torch_draw(fill, shape)[0]
            mine = ours(binary, work, shape, scheme, 15)[0]
            same = mine.shape == expected.shape and np.array_equal(mine, expected)
            return [] if same else [f"values differ: {mine.ravel()[:8]} vs {expected.ravel()[:8]}"], "exact"
        report.run(f"torch {case} {shape}", check)
    for dtype, tdtype in [("f16", torch.float16), ("bf16", torch.bfloat16)]:
        def check():
            expected = torch_draw(lambda t: I.constant_(t, 0.1), [3], 1, tdtype)[0]
            mine = ours(binary, work, [3], "constant(value=0.1)", 15, dtype)[0]
            same = np.array_equal(mine, expected)
            return [] if same else [f"{mine} vs {expected}"], f"exact, {mine[0]!r}"
        report.run(f"torch constant_(val=0.1) {dtype}", check)

    # Which shapes each accepts.
    edge_shapes = [[5], [0], [0, 5], [5, 0], [2, 0, 3], [4, 3, 0], [2, 2, 2, 2, 2, 2]]
    for name, scheme, fill in [
        ("uniform_", "uniform", I.uniform_),
        ("normal_", "normal", I.normal_),
        ("trunc_normal_", "trunc-normal", I.trunc_normal_),
        ("constant_", "constant(value=0.5)", lambda t: I.constant_(t, 0.5)),
        ("ones_", "ones", I.ones_),
        ("zeros_", "zeros", I.zeros_),
        ("eye_", "eye", I.eye_),
        ("dirac_", "dirac", I.dirac_),
        ("dirac_(groups=2)", "dirac(groups=2)", lambda t: I.dirac_(t, 2)),
        ("xavier_uniform_", "xavier-uniform", I.xavier_uniform_),
        ("xavier_normal_", "xavier-normal", I.xavier_normal_),
        ("kaiming_uniform_", "he-uniform", I.kaiming_uniform_),
        ("kaiming_normal_(mode=fan_out)", "he(mode=fan_out)",
         lambda t: I.kaiming_normal_(t, mode="fan_out")),
        ("orthogonal_", "orthogonal", I.orthogonal_),
        ("sparse_", "sparse(sparsity=0.5)", lambda t: I.sparse_(t, 0.5)),
    ]:
        check_shape_rules(report, binary, work, f"torch {name}", scheme, edge_shapes,
                          lambda s, fill=fill: torch_accepts(fill, s))

    # calculate_gain against our table.
    with open(gains_path) as f:
        gains = json.load(f)
    ours_names = {g["name"] for g in gains}
    torch_names = getattr(I, "_NonlinearityType", None)
    torch_names = set(typing.get_args(torch_names)) if torch_names is not None else set()
    if not torch_names:
        report.note("torch calculate_gain names", "torch.nn.init._NonlinearityType is gone; "
                    "checking our names only")
    missing = sorted(torch_names - ours_names)
    report("torch calculate_gain names", [f"we lack {missing}"] if missing else [],
           f"our {len(ours_names)} names include PyTorch's {len(torch_names)}")
    for g in gains:
        name, param, gain = g["name"], g["param"], g["gain"]
        case = f"torch calculate_gain({name!r}{'' if param is None else f', {param!r}'})"
        try:
            expected = float(I.calculate_gain(name, param))
        except ValueError as e:
            if name == "identity" and name not in torch_names:
                report.note(case, f"PyTorch raises ({e}) although its documentation lists "
                            f"Linear / Identity with gain 1; ours {gain!r}")
            else:
                report(case, [f"PyTorch raises {e}; ours {gain!r}"], "")
            continue
        close = abs(gain - expected) <= math.ulp(expected)
        report(case, [] if close else [f"ours {gain!r}"], f"{expected!r}")


def check_shape_rules(report, binary, work, name, scheme, shapes, framework_error):
    """The framework accepts each shape exactly when we do (see the module docstring)."""
    for shape in shapes:
        def check():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                err = framework_error(shape)
            done, _ = cli(binary, work, shape, scheme, 17)
            we_accept = done.returncode == 0
            theirs = "accepts" if err is None else f"{type(err).__name__}: {str(err)[:70]}"
            detail = f"framework {theirs}; ours {'accepts' if we_accept else 'refuses'}"
            if (err is None) == we_accept:
                return [], detail
            if we_accept and isinstance(err, (ZeroDivisionError, IndexError)):
                report.note(f"{name} {shape}", f"{detail} (the empty tensor)")
                return [], detail + " (noted)"
            if not we_accept:
                detail += f" ({done.stderr.strip()[:90]})"
            return ["acceptance differs"], detail
        report.run(f"{name} shape {shape}", check)


# ---- JAX ----

def jax_parity(binary, work, report):
    key = jax.random.key(SEED)

    def draw(initializer, shape, count=1):
        nonlocal key
        out = []
        for _ in range(count):
            key, sub = jax.random.split(key)
            out.append(np.asarray(initializer(sub, tuple(shape), jnp.float32)))
        return np.stack(out)

    conv = [64, 3, 7, 7]  # PyTorch's (out, in, k, k): in_axis=1, out_axis=0 for JAX
    cases = [
        ("glorot_normal", [256, 512], "jax-glorot-normal", jinit.glorot_normal()),
        ("glorot_uniform", [256, 512], "jax-glorot-uniform", jinit.glorot_uniform()),
        ("he_normal HWIO", [7, 7, 3, 64], "jax-he-normal", jinit.he_normal()),
        ("he_uniform", [300, 200], "jax-he-uniform", jinit.he_uniform()),
        ("lecun_normal", [300, 200], "jax-lecun-normal", jinit.lecun_normal()),
        ("lecun_uniform", [300, 200], "jax-lecun-uniform", jinit.lecun_uniform()),
        ("variance_scaling fan_geo_avg normal", [64, 4096],
         "variance-scaling(scale=0.5, mode=fan_geo_avg, distribution=normal)",
         jinit.variance_scaling(0.5, "fan_geo_avg", "normal")),
        ("variance_scaling PyTorch layout", conv,
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
        # The README's JAX counterparts of the PyTorch-layout schemes.
        ("he-normal = variance_scaling(2, fan_in, normal, in_axis=1, out_axis=0)", conv,
         "he-normal", jinit.variance_scaling(2.0, "fan_in", "normal", in_axis=1, out_axis=0)),
        ("he-uniform = he_uniform(in_axis=1, out_axis=0)", conv, "he-uniform",
         jinit.he_uniform(in_axis=1, out_axis=0)),
        ("xavier-normal = variance_scaling(1, fan_avg, normal, in_axis=1, out_axis=0)", conv,
         "xavier-normal",
         jinit.variance_scaling(1.0, "fan_avg", "normal", in_axis=1, out_axis=0)),
        ("xavier-uniform = glorot_uniform(in_axis=1, out_axis=0)", conv, "xavier-uniform",
         jinit.glorot_uniform(in_axis=1, out_axis=0)),
        ("lecun-normal = variance_scaling(1, fan_in, normal, in_axis=1, out_axis=0)", conv,
         "lecun-normal", jinit.variance_scaling(1.0, "fan_in", "normal", in_axis=1, out_axis=0)),
        ("lecun-uniform = lecun_uniform(in_axis=1, out_axis=0)", conv, "lecun-uniform",
         jinit.lecun_uniform(in_axis=1, out_axis=0)),
        ("normal(std=0.02) = normal(0.02)", [512, 512], "normal(std=0.02)", jinit.normal(0.02)),
        ("uniform(high=0.5) = uniform(0.5)", [512, 512], "uniform(high=0.5)", jinit.uniform(0.5)),
    ]
    for case, shape, scheme, initializer in cases:
        def check():
            k = repeats(shape)
            return check_ks(ours(binary, work, shape, scheme, 21, count=k),
                            draw(initializer, shape, k))
        report.run(f"jax {case} {shape}", check)

    for shape, scale, axis in [([128, 96], 2.0, -1), ([16, 3, 3, 4], 1.0, 0)]:
        def check():
            mine = ours(binary, work, shape, f"jax-orthogonal(scale={scale}, column_axis={axis})", 22)
            ref = draw(jinit.orthogonal(scale, column_axis=axis), shape)
            problems, detail = check_ks(mine, ref)
            err_mine = gram_error(mine[0], scale, axis)
            err_ref = gram_error(ref[0], scale, axis)
            if err_mine > 1e-5 * scale**2:
                problems.append(f"ours |W W^T - s^2 I| = {err_mine:.2e} > {1e-5 * scale**2:.0e}")
            return problems, f"{detail}, gram error ours {err_mine:.1e} jax {err_ref:.1e}"
        report.run(f"jax orthogonal(scale={scale}, column_axis={axis}) {shape}", check)

    for shape in [[3, 3, 4, 6], [4, 2, 3, 3], [2, 5, 5]]:
        def check():
            mine = ours(binary, work, shape, "jax-delta-orthogonal", 23)[0]
            ref = draw(jinit.delta_orthogonal(), shape)[0]
            problems = []
            if not np.array_equal(mine != 0, ref != 0):
                problems.append("non-zero patterns differ")
            centre = tuple((k - 1) // 2 for k in shape[:-2])
            err = gram_error(mine[centre], 1.0)
            if err > 1e-5:
                problems.append(f"centre not orthogonal: {err:.1e} > 1e-5")
            return problems, f"centre {centre}, gram error {err:.1e}"
        report.run(f"jax delta_orthogonal {shape}", check)

    for case, shape, scheme, initializer in [
        ("zeros", [3, 4], "zeros", jinit.zeros),
        ("ones", [3, 4], "ones", jinit.ones),
        ("constant(-0.25)", [5], "constant(value=-0.25)", jinit.constant(-0.25)),
        ("orthogonal zero-element", [0, 4], "jax-orthogonal", jinit.orthogonal()),
    ]:
        def check():
            mine = ours(binary, work, shape, scheme, 24)[0]
            expected = draw(initializer, shape)[0]
            same = mine.shape == expected.shape and np.array_equal(mine, expected)
            return [] if same else ["values differ"], "exact"
        report.run(f"jax {case} {shape}", check)

    def jax_error(initializer):
        def error(shape):
            try:
                initializer(jax.random.key(0), tuple(shape), jnp.float32)
            except Exception as e:  # noqa: BLE001 - any refusal counts
                return e
            return None
        return error

    edge_shapes = [[5], [0], [0, 5], [5, 0], [2, 0, 3], [4, 3, 0], [2, 2, 2, 2, 2, 2]]
    for name, scheme, initializer in [
        ("glorot_normal", "jax-glorot-normal", jinit.glorot_normal()),
        ("he_uniform", "jax-he-uniform", jinit.he_uniform()),
        ("lecun_normal", "jax-lecun-normal", jinit.lecun_normal()),
        ("variance_scaling(in_axis=1, out_axis=0)",
         "variance-scaling(scale=1, mode=fan_avg, distribution=normal, in_axis=1, out_axis=0)",
         jinit.variance_scaling(1.0, "fan_avg", "normal", in_axis=1, out_axis=0)),
        ("orthogonal", "jax-orthogonal", jinit.orthogonal()),
        ("delta_orthogonal", "jax-delta-orthogonal", jinit.delta_orthogonal()),
        ("normal", "jax-normal", jinit.normal()),
        ("truncated_normal", "jax-truncated-normal", jinit.truncated_normal()),
        ("uniform", "jax-uniform", jinit.uniform()),
    ]:
        check_shape_rules(report, binary, work, f"jax {name}", scheme, edge_shapes,
                          jax_error(initializer))


def main():
    binary, work, gains_path = sys.argv[1], sys.argv[2], sys.argv[3]
    report = Report()
    for framework, module, missing, run in [
        ("torch", torch, globals().get("TORCH_MISSING"),
         lambda: torch_parity(binary, work, report, gains_path)),
        ("jax", jax, globals().get("JAX_MISSING"), lambda: jax_parity(binary, work, report)),
    ]:
        if module is not None:
            run()
        elif REQUIRED:
            report(f"{framework} parity", [f"{framework} is not importable ({missing}) and "
                                           "WEIGHT_INIT_REQUIRE_PYTHON=1"], "")
        else:
            print(f"SKIP {framework} parity: {framework} is not importable ({missing}); "
                  f"pip install {framework}", flush=True)
    print(f"{len(report.failures)} failed")
    sys.exit(1 if report.failures else 0)


if __name__ == "__main__":
    main()
