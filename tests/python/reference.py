#!/usr/bin/env python3
"""Independent float64 reference of weight-init's values, written from the published
definitions (Philox4x32-10 from Salmon et al., SC'11; FNV-1a; Box-Muller) rather than from the
Rust code. Standard library only.

    python3 tests/python/reference.py > tests/data/reference_values.tsv

regenerates the table that tests/value_stability.rs compares the library against. The Rust
side computes in float32 with its own polynomials, so the comparison allows a small relative
tolerance; any change to the stream layout changes the values completely and fails it.
"""

import math
from statistics import NormalDist
import sys

MASK32 = 0xFFFFFFFF


def philox4x32(counter, key, rounds=10):
    """Philox4x32-R: `rounds` S-box rounds, the key bumped by the Weyl constants in between."""
    m0, m1 = 0xD2511F53, 0xCD9E8D57
    w0, w1 = 0x9E3779B9, 0xBB67AE85
    x0, x1, x2, x3 = counter
    k0, k1 = key
    for r in range(rounds):
        if r > 0:
            k0, k1 = (k0 + w0) & MASK32, (k1 + w1) & MASK32
        prod0, prod1 = m0 * x0, m1 * x2
        x0, x1, x2, x3 = (prod1 >> 32) ^ x1 ^ k0, prod1 & MASK32, (prod0 >> 32) ^ x3 ^ k1, prod0 & MASK32
    return [x0, x1, x2, x3]


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def block_words(seed, stream, block):
    counter = [block & MASK32, block >> 32, stream & MASK32, stream >> 32]
    return philox4x32(counter, [seed & MASK32, seed >> 32])


def uniform01(word):
    return ((word >> 8) | 1) / 2.0**24


def standard_value(kind, words, j):
    """Element j of a block: a standard normal (Box-Muller on words 2p, 2p+1) or a signed
    uniform in (-1, 1); 0 for constants."""
    if kind == "constant":
        return 0.0
    if kind == "uniform":
        return 2.0 * uniform01(words[j]) - 1.0
    pair = j // 2
    radius = math.sqrt(-2.0 * math.log(uniform01(words[2 * pair])))
    theta = 2.0 * math.pi * uniform01(words[2 * pair + 1])
    return radius * (math.cos(theta) if j % 2 == 0 else math.sin(theta))


def fans(shape):
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def affine(scheme, shape):
    """(kind, offset, scale) from torch.nn.init's formulas."""
    if scheme == "normal":
        return "normal", 0.0, 1.0
    if scheme.startswith("normal("):
        params = dict(p.split("=") for p in scheme[len("normal("):-1].split(","))
        return "normal", float(params.get("mean", 0)), float(params.get("std", 1))
    if scheme in ("ones", "zeros"):
        return "constant", 1.0 if scheme == "ones" else 0.0, 0.0
    if scheme == "he":
        return "normal", 0.0, math.sqrt(2.0) / math.sqrt(fans(shape)[0])
    if scheme == "xavier":
        fan_in, fan_out = fans(shape)
        return "normal", 0.0, math.sqrt(2.0 / (fan_in + fan_out))
    if scheme == "uniform(low=-1,high=3)":
        return "uniform", 1.0, 2.0
    if scheme == "he-uniform":
        return "uniform", 0.0, math.sqrt(2.0) * math.sqrt(3.0 / fans(shape)[0])
    if scheme == "xavier-uniform":
        fan_in, fan_out = fans(shape)
        return "uniform", 0.0, math.sqrt(6.0 / (fan_in + fan_out))
    raise ValueError(scheme)


def truncation(scheme, shape):
    """(mean, std, a, b) of the truncated normals: PyTorch's trunc_normal_ (absolute bounds)
    and JAX's he_normal (variance 2 / fan_in with JAX's (..., in, out) axes, truncated at two
    std and rescaled by the std of that truncated normal)."""
    if scheme == "trunc-normal":
        return 0.0, 1.0, -2.0, 2.0
    if scheme == "trunc-normal(a=5.5,b=inf)":
        return 0.0, 1.0, 5.5, math.inf
    if scheme == "trunc-normal(mean=1,std=0.5,a=-inf,b=-0.9)":
        return 1.0, 0.5, -math.inf, -0.9
    if scheme == "jax-he-normal":
        receptive = math.prod(shape[:-2])
        std = math.sqrt(2.0 / (shape[-2] * receptive)) / 0.87962566103423978
        return 0.0, std, -2.0 * std, 2.0 * std
    return None


def truncated_value(word, mean, std, a, b):
    """Inverse-CDF truncated normal in float64 (statistics.NormalDist), the CDF coordinate
    taken from the nearer end as the library does: the float64 value its f32 one estimates."""
    phi = lambda x: 0.5 * math.erfc(-x / math.sqrt(2.0))
    alpha, beta = (a - mean) / std, (b - mean) / std
    p_low, q_high = phi(alpha), phi(-beta)
    if alpha >= 0:
        mass = phi(-alpha) - q_high
    elif beta <= 0:
        mass = phi(beta) - p_low
    else:
        mass = 1.0 - p_low - q_high
    u = uniform01(word)
    p, q = p_low + u * mass, q_high + (1.0 - u) * mass
    z = NormalDist().inv_cdf(p) if p <= q else -NormalDist().inv_cdf(q)
    return min(max(mean + std * z, a), b)


def values(seed, name, scheme, shape, first, count):
    stream = fnv1a64(name)
    truncated = truncation(scheme, shape)
    if truncated is None:
        kind, offset, scale = affine(scheme, shape)
    out = []
    for i in range(first, first + count):
        words = block_words(seed, stream, i // 4)
        if truncated is not None:
            out.append(truncated_value(words[i % 4], *truncated))
        else:
            out.append(offset + scale * standard_value(kind, words, i % 4))
    return out


CASES = [
    (7, "W1", "he", (4, 2), 0, 8),
    (7, "W2", "he", (3, 4), 0, 12),
    (0, "W1", "normal", (16,), 0, 16),
    (2**64 - 1, "layer.0.weight", "xavier", (64, 32, 3, 3), 5, 11),
    (12345, "final_layer_norm.bias", "normal(mean=1,std=0.5)", (10,), 1, 9),
    (1, "emb", "uniform(low=-1,high=3)", (7, 9), 0, 16),
    (42, "fc.weight", "he-uniform", (128, 64), 100, 10),
    (42, "fc.weight", "xavier-uniform", (128, 64), 3, 6),
    (11, "huge", "he", (65536, 65537), 2**32 - 4, 8),
    (3, "trunc", "trunc-normal", (1000,), 0, 12),
    (5, "tail", "trunc-normal(a=5.5,b=inf)", (64,), 4, 10),
    (6, "lower.tail", "trunc-normal(mean=1,std=0.5,a=-inf,b=-0.9)", (33,), 0, 9),
    (9, "jax.kernel", "jax-he-normal", (3, 3, 16, 32), 2, 9),
]


def self_check():
    """Random123's Philox4x32-10 known answers and FNV-1a's published vectors."""
    assert philox4x32([0, 0, 0, 0], [0, 0]) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32([MASK32] * 4, [MASK32] * 2) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0]) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    assert fnv1a64("a") == 0xAF63DC4C8601EC8C and fnv1a64("foobar") == 0x85944171F73967E8


def main():
    self_check()
    print("# Generated by tests/python/reference.py: an independent float64 reference of")
    print("# weight-init's values (Philox4x32-10, FNV-1a streams, Box-Muller, inverse-CDF truncated normals). Do not edit.")
    print("# seed\tname\tscheme\tshape\tfirst_elem\tvalues...")
    for seed, name, scheme, shape, first, count in CASES:
        vals = values(seed, name, scheme, shape, first, count)
        shape_text = ",".join(str(d) for d in shape)
        print("\t".join([str(seed), name, scheme, shape_text, str(first)] + ["%.9g" % v for v in vals]))


if __name__ == "__main__":
    sys.exit(main())
