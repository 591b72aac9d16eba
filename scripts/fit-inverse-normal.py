#!/usr/bin/env python3
"""Fits the polynomials of `src/transform.rs::inverse_normal_lower` (and the shader's copy).

The lower-tail inverse normal CDF, z = Phi^-1(t) for t in (0, 1/2], is written as
z = -x h(w) with x = 1 - 2t and w = -ln(4 t (1 - t)) = -ln(1 - x^2), so that
h(w) = sqrt(2) erfinv(x) / x is smooth. Three pieces:

    w in [0, 5]:   h = P_a(w - 2.5)
    w in [5, 16]:  h = P_b(sqrt(w) - c_b)
    w in [16, 88]: h = P_c(sqrt(w) - c_c)

w <= 86 covers every t >= 2^-126 (the smallest normal f32). Each polynomial is a weighted
least-squares fit at 400 Chebyshev nodes against mpmath's erfinv at 90 digits, rounded to f32.
The script prints the coefficients as Rust arrays and the largest relative error of an f32
Horner evaluation against the 90-digit reference.

Requirements: numpy, mpmath (`pip install numpy mpmath`). Runs in about a minute.
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 90
PIECES = [("A", 0.0, 5.0, "w", 9), ("B", 5.0, 16.0, "sqrt", 8), ("C", 16.0, 88.0, "sqrt", 8)]


def h_of_w(w):
    w = mp.mpf(w)
    if w == 0:
        return mp.sqrt(mp.pi / 2)
    x = mp.sqrt(-mp.expm1(-w))
    return mp.sqrt(2) * mp.erfinv(x) / x


def fit(lo, hi, var, degree, nodes=400):
    a, b = (lo, hi) if var == "w" else (np.sqrt(lo), np.sqrt(hi))
    centre = np.float32((a + b) / 2)
    k = np.arange(nodes)
    s = (a + b) / 2 + (b - a) / 2 * np.cos(np.pi * (k + 0.5) / nodes)
    w = s if var == "w" else s * s
    f = np.array([float(h_of_w(float(v))) for v in w])
    vander = np.vander(s - float(centre), degree + 1, increasing=True)
    coef, *_ = np.linalg.lstsq(vander / f[:, None], np.ones_like(f), rcond=None)
    coef = coef.astype(np.float32)
    check = np.linspace(a, b, 1001)
    wc = check if var == "w" else check * check
    ref = np.array([float(h_of_w(float(v))) for v in wc])
    arg = (check - float(centre)).astype(np.float32)
    acc = np.zeros_like(arg)
    for c in coef[::-1]:
        acc = (acc * arg + c).astype(np.float32)
    return centre, coef, np.max(np.abs(acc - ref) / ref)


for name, lo, hi, var, degree in PIECES:
    centre, coef, err = fit(lo, hi, var, degree)
    print(f"// piece {name}: w in [{lo}, {hi}], variable {var}, centre {centre!r}, "
          f"max relative error {err:.2e}")
    print(f"centre {name}: {str(np.float32(centre))}")
    body = ", ".join(str(np.float32(c)) for c in coef)
    print(f"pub const INVERSE_NORMAL_{name}: [f32; {len(coef)}] = [{body}];")
