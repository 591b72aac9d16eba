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


def parse(scheme):
    """`name(key=value,...)` as (name, {key: value}), values as text."""
    name, _, rest = scheme.partition("(")
    params = {}
    if rest:
        for item in rest.rstrip(")").split(","):
            key, value = item.split("=")
            params[key.strip()] = value.strip()
    return name, params


def number(text):
    """A decimal, `inf`, or a fraction such as `5/3`."""
    if "/" in text:
        num, den = text.split("/")
        return float(num) / float(den)
    return float(text)


def fans(shape):
    """PyTorch's _calculate_fan_in_and_fan_out: weight (out, in, *kernel)."""
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def jax_fans(shape):
    """JAX's _compute_fans with in_axis=-2, out_axis=-1: kernel (..., in, out)."""
    receptive = math.prod(shape) / (shape[-2] * shape[-1])
    return shape[-2] * receptive, shape[-1] * receptive


def calculate_gain(nonlinearity, slope):
    """torch.nn.init.calculate_gain."""
    if nonlinearity in ("linear", "conv1d", "conv2d", "conv3d", "sigmoid"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        return math.sqrt(2.0 / (1.0 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(nonlinearity)


# JAX's variance_scaling: the std of N(0, 1) truncated to [-2, 2].
JAX_TRUNCATED_STD = 0.87962566103423978

# JAX's named initializers as (scale, mode, distribution) of variance_scaling.
JAX_VARIANCE_SCALING = {
    "jax-he-normal": (2.0, "fan_in", "truncated_normal"),
    "jax-he-uniform": (2.0, "fan_in", "uniform"),
    "jax-lecun-normal": (1.0, "fan_in", "truncated_normal"),
    "jax-lecun-uniform": (1.0, "fan_in", "uniform"),
    "jax-glorot-normal": (1.0, "fan_avg", "truncated_normal"),
    "jax-glorot-uniform": (1.0, "fan_avg", "uniform"),
}


def distribution(scheme, shape):
    """("normal" | "uniform" | "constant", offset, scale) or ("truncated", mean, std, a, b),
    from torch.nn.init's and jax.nn.initializers' formulas."""
    name, params = parse(scheme)
    get = lambda key, default: number(params.get(key, str(default)))
    if name == "normal":
        return "normal", get("mean", 0), get("std", 1)
    if name == "uniform":
        low, high = get("low", 0), get("high", 1)
        return "uniform", (low + high) / 2.0, (high - low) / 2.0
    if name in ("ones", "zeros"):
        return "constant", 1.0 if name == "ones" else 0.0, 0.0
    if name in ("he", "he-normal", "kaiming-normal", "he-uniform", "kaiming-uniform"):
        fan_in, fan_out = fans(shape)
        fan = fan_out if params.get("mode") == "fan_out" else fan_in
        slope = get("negative_slope", 0)
        std = calculate_gain(params.get("nonlinearity", "leaky_relu"), slope) / math.sqrt(fan)
        if name.endswith("uniform"):
            return "uniform", 0.0, math.sqrt(3.0) * std
        return "normal", 0.0, std
    if name in ("xavier", "xavier-normal", "xavier-uniform"):
        fan_in, fan_out = fans(shape)
        gain = get("gain", 1)
        if name == "xavier-uniform":
            return "uniform", 0.0, gain * math.sqrt(6.0 / (fan_in + fan_out))
        return "normal", 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out))
    if name in ("lecun", "lecun-normal"):
        return "normal", 0.0, 1.0 / math.sqrt(fans(shape)[0])
    if name == "lecun-uniform":
        return "uniform", 0.0, math.sqrt(3.0 / fans(shape)[0])
    if name in ("trunc-normal", "truncated-normal"):
        mean, std = get("mean", 0), get("std", 1)
        return "truncated", mean, std, get("a", -2), get("b", 2)
    if name == "jax-truncated-normal":
        stddev = get("stddev", 0.01)
        return "truncated", 0.0, stddev, get("lower", -2) * stddev, get("upper", 2) * stddev
    if name == "jax-normal":
        return "normal", 0.0, get("stddev", 0.01)
    if name == "jax-uniform":
        scale = get("scale", 0.01)
        return "uniform", scale / 2.0, scale / 2.0
    if name in JAX_VARIANCE_SCALING or name == "variance-scaling":
        if name == "variance-scaling":
            scale, mode, dist = get("scale", None), params["mode"], params["distribution"]
        else:
            scale, mode, dist = JAX_VARIANCE_SCALING[name]
        fan_in, fan_out = jax_fans(shape)
        n = {
            "fan_in": fan_in,
            "fan_out": fan_out,
            "fan_avg": (fan_in + fan_out) / 2.0,
            "fan_geo_avg": math.sqrt(fan_in * fan_out),
        }[mode]
        variance = scale / n
        if dist == "uniform":
            return "uniform", 0.0, math.sqrt(3.0 * variance)
        if dist == "truncated_normal":
            std = math.sqrt(variance) / JAX_TRUNCATED_STD
            return "truncated", 0.0, std, -2.0 * std, 2.0 * std
        return "normal", 0.0, math.sqrt(variance)
    raise ValueError(scheme)


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
    dist = distribution(scheme, shape)
    out = []
    for i in range(first, first + count):
        words = block_words(seed, stream, i // 4)
        if dist[0] == "truncated":
            out.append(truncated_value(words[i % 4], *dist[1:]))
        else:
            kind, offset, scale = dist
            out.append(offset + scale * standard_value(kind, words, i % 4))
    return out


# (seed, name, scheme, shape, first element, count). Every scheme has at least two rows, with
# different seeds and different names (tests/value_stability.rs checks that).
CASES = [
    # Plain normals and uniforms.
    (0, "W1", "normal", (16,), 0, 16),
    (123456789, "embed.weight", "normal", (50, 8), 3, 9),
    (12345, "final_layer_norm.bias", "normal(mean=1,std=0.5)", (10,), 1, 9),
    (77, "ln.bias", "normal(mean=1,std=0.5)", (6,), 0, 6),
    (1, "emb", "uniform(low=-1,high=3)", (7, 9), 0, 16),
    (2, "emb.b", "uniform(low=-1,high=3)", (5, 5), 4, 8),
    # PyTorch's fan-based schemes: He/Kaiming (default leaky_relu with slope 0, and with other
    # nonlinearities and fan_out), Xavier/Glorot, LeCun.
    (7, "W1", "he", (4, 2), 0, 8),
    (7, "W2", "he", (3, 4), 0, 12),
    (11, "huge", "he", (65536, 65537), 2**32 - 4, 8),
    (42, "fc.weight", "he-uniform", (128, 64), 100, 10),
    (43, "conv.weight", "he-uniform", (16, 8, 3, 3), 7, 9),
    (21, "tanh.weight", "he-normal(nonlinearity=tanh)", (40, 20), 0, 8),
    (22, "tanh.w2", "he-normal(nonlinearity=tanh)", (20, 40), 5, 8),
    (23, "leaky.weight", "he-uniform(mode=fan_out,nonlinearity=leaky_relu,negative_slope=0.2)", (30, 10, 3), 0, 8),
    (24, "leaky.w2", "he-uniform(mode=fan_out,nonlinearity=leaky_relu,negative_slope=0.2)", (12, 24), 1, 8),
    (25, "selu.weight", "kaiming-normal(mode=fan_out,nonlinearity=selu)", (64, 16), 0, 8),
    (26, "selu.w2", "kaiming-normal(mode=fan_out,nonlinearity=selu)", (16, 64), 3, 8),
    (2**64 - 1, "layer.0.weight", "xavier", (64, 32, 3, 3), 5, 11),
    (8, "W2", "xavier", (3, 4), 0, 12),
    (27, "gru.weight", "xavier-normal(gain=5/3)", (96, 32), 0, 8),
    (28, "gru.w2", "xavier-normal(gain=5/3)", (32, 96), 9, 8),
    (42, "fc.weight", "xavier-uniform", (128, 64), 3, 6),
    (1000, "proj.weight", "xavier-uniform", (256, 512), 0, 8),
    (13, "lecun.a", "lecun-normal", (32, 48), 0, 8),
    (14, "lecun.b", "lecun-normal", (8, 4, 5), 6, 8),
    (15, "lecun.u", "lecun-uniform", (100, 30), 0, 8),
    (16, "lecun.v", "lecun-uniform", (6, 6, 2, 2), 2, 8),
    # Truncated normals: PyTorch's absolute bounds (default, GPT-style, either tail alone).
    (3, "trunc", "trunc-normal", (1000,), 0, 12),
    (4, "trunc.b", "trunc-normal", (9, 9), 1, 8),
    (31, "gpt.wte", "trunc-normal(std=0.02,a=-0.04,b=0.04)", (1000, 64), 10, 8),
    (32, "gpt.wpe", "trunc-normal(std=0.02,a=-0.04,b=0.04)", (128, 64), 0, 8),
    (5, "tail", "trunc-normal(a=5.5,b=inf)", (64,), 4, 10),
    (500, "tail.b", "trunc-normal(a=5.5,b=inf)", (20,), 0, 8),
    (6, "lower.tail", "trunc-normal(mean=1,std=0.5,a=-inf,b=-0.9)", (33,), 0, 9),
    (60, "lower.b", "trunc-normal(mean=1,std=0.5,a=-inf,b=-0.9)", (12,), 2, 8),
    # JAX: variance scaling with (..., in, out) fans, truncated at two std and rescaled.
    (9, "jax.kernel", "jax-he-normal", (3, 3, 16, 32), 2, 9),
    (10, "jax.dense", "jax-he-normal", (64, 32), 0, 8),
    (33, "jax.lecun", "jax-lecun-normal", (3, 3, 8, 16), 0, 8),
    (34, "jax.lecun2", "jax-lecun-normal", (128, 10), 4, 8),
    (35, "jax.glorot", "jax-glorot-normal", (64, 128), 0, 8),
    (36, "jax.glorot2", "jax-glorot-normal", (5, 7, 9), 2, 8),
    (41, "jax.glorot.u", "jax-glorot-uniform", (64, 128), 0, 8),
    (42, "jax.glorot.v", "jax-glorot-uniform", (3, 5, 40, 20), 1, 8),
    (37, "jax.tn", "jax-truncated-normal(stddev=0.1,lower=-1,upper=3)", (50,), 0, 8),
    (38, "jax.tn2", "jax-truncated-normal(stddev=0.1,lower=-1,upper=3)", (4, 25), 3, 8),
    (39, "vs.a", "variance-scaling(scale=0.5,mode=fan_geo_avg,distribution=truncated_normal)", (20, 80), 0, 8),
    (40, "vs.b", "variance-scaling(scale=0.5,mode=fan_geo_avg,distribution=truncated_normal)", (3, 20, 80), 1, 8),
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
    print("# Generated by tests/python/reference.py (Python 3 standard library only): an independent")
    print("# float64 reference of weight-init's values (Philox4x32-10, FNV-1a streams, Box-Muller,")
    print("# inverse-CDF truncated normals, torch.nn.init and JAX scale formulas). Do not edit; regenerate")
    print("# with: python3 tests/python/reference.py > tests/data/reference_values.tsv")
    print("# seed\tname\tscheme\tshape\tfirst_elem\tvalues...")
    for seed, name, scheme, shape, first, count in CASES:
        vals = values(seed, name, scheme, shape, first, count)
        shape_text = ",".join(str(d) for d in shape)
        print("\t".join([str(seed), name, scheme, shape_text, str(first)] + ["%.9g" % v for v in vals]))


if __name__ == "__main__":
    sys.exit(main())
