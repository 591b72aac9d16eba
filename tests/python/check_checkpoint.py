#!/usr/bin/env python3
"""Loads checkpoints written by `weight-init init --preset ...` with the safetensors package
(and numpy), and checks them against the published state dicts and init rules, written here
independently of the Rust code.

    check_checkpoint.py gpt2 FILE.safetensors SEED
    check_checkpoint.py llama-tiny DIR SEED     # a directory with shards and an index

For llama-tiny every value is compared with the float64 reference (reference.py) after
rounding to the stored dtype; for gpt2 (124M values) names, shapes, dtypes and the std of
each initialized weight are checked.
"""

import json
import math
import os
import sys

import numpy as np
import safetensors
from safetensors.numpy import load_file

import reference


def gpt2_state_dict(n_layer=12, d=768, vocab=50257, positions=1024):
    """GPT2LMHeadModel's saved state dict (tied lm_head omitted): name -> (shape, std or
    constant)."""
    std, proj = 0.02, 0.02 / math.sqrt(2 * n_layer)
    out = {"transformer.wte.weight": ((vocab, d), std), "transformer.wpe.weight": ((positions, d), std)}
    for i in range(n_layer):
        p = f"transformer.h.{i}."
        out.update({
            p + "ln_1.weight": ((d,), "ones"), p + "ln_1.bias": ((d,), "zeros"),
            p + "attn.c_attn.weight": ((d, 3 * d), std), p + "attn.c_attn.bias": ((3 * d,), "zeros"),
            p + "attn.c_proj.weight": ((d, d), proj), p + "attn.c_proj.bias": ((d,), "zeros"),
            p + "ln_2.weight": ((d,), "ones"), p + "ln_2.bias": ((d,), "zeros"),
            p + "mlp.c_fc.weight": ((d, 4 * d), std), p + "mlp.c_fc.bias": ((4 * d,), "zeros"),
            p + "mlp.c_proj.weight": ((4 * d, d), proj), p + "mlp.c_proj.bias": ((d,), "zeros"),
        })
    out["transformer.ln_f.weight"] = ((d,), "ones")
    out["transformer.ln_f.bias"] = ((d,), "zeros")
    return out


def llama_state_dict(layers=2, h=64, inter=172, heads=4, kv_heads=2, vocab=512):
    head_dim = h // heads
    out = {"model.embed_tokens.weight": ((vocab, h), 0.02)}
    for i in range(layers):
        p = f"model.layers.{i}."
        out.update({
            p + "self_attn.q_proj.weight": ((heads * head_dim, h), 0.02),
            p + "self_attn.k_proj.weight": ((kv_heads * head_dim, h), 0.02),
            p + "self_attn.v_proj.weight": ((kv_heads * head_dim, h), 0.02),
            p + "self_attn.o_proj.weight": ((h, heads * head_dim), 0.02),
            p + "mlp.gate_proj.weight": ((inter, h), 0.02),
            p + "mlp.up_proj.weight": ((inter, h), 0.02),
            p + "mlp.down_proj.weight": ((h, inter), 0.02),
            p + "input_layernorm.weight": ((h,), "ones"),
            p + "post_attention_layernorm.weight": ((h,), "ones"),
        })
    out["model.norm.weight"] = ((h,), "ones")
    out["lm_head.weight"] = ((vocab, h), 0.02)
    return out


def load_any(path):
    """name -> float32 array, for F32, F16 and BF16 files. BF16 has no NumPy type: its raw
    bytes, parsed by the safetensors package, are widened to float32 by shifting."""
    with open(path, "rb") as f:
        parsed = safetensors.deserialize(f.read())
    out = {}
    for name, view in parsed:
        raw = bytes(view["data"])
        if view["dtype"] == "BF16":
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[view["dtype"]]).astype(np.float32)
        out[name] = (arr.reshape(view["shape"]), view["dtype"])
    return out


def round_to(values, dtype):
    """float64 reference values rounded as the stored dtype."""
    f32 = values.astype(np.float32)
    if dtype == "F16":
        return f32.astype(np.float16).astype(np.float32)
    if dtype == "BF16":
        bits = f32.view(np.uint32).astype(np.uint64)
        bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        return bits.astype(np.uint32).view(np.float32)
    return f32


def check_gpt2(path, seed):
    expected = gpt2_state_dict()
    tensors = load_file(path)
    assert sorted(tensors) == sorted(expected), set(tensors) ^ set(expected)
    for name, (shape, rule) in expected.items():
        t = tensors[name]
        assert t.shape == shape and t.dtype == np.float32, (name, t.shape, t.dtype)
        if rule == "ones":
            assert (t == 1).all(), name
        elif rule == "zeros":
            assert (t == 0).all(), name
        else:
            # Sample std of n normals: relative sd sqrt(1/(2n)); 6 of those is generous.
            tol = 6 * rule / math.sqrt(2 * t.size)
            assert abs(t.std() - rule) < tol, (name, t.std(), rule)
    print(f"gpt2: {len(tensors)} tensors match GPT-2's state dict and init rules")


def check_llama_dir(directory, seed):
    expected = llama_state_dict()
    with open(os.path.join(directory, "model.safetensors.index.json")) as f:
        index = json.load(f)
    assert sorted(index["weight_map"]) == sorted(expected)
    tensors = {}
    for file in sorted(set(index["weight_map"].values())):
        loaded = load_any(os.path.join(directory, file))
        for name in loaded:
            assert index["weight_map"][name] == file, name
        tensors.update(loaded)
    total = 0
    for name, (shape, rule) in expected.items():
        arr, dtype = tensors[name]
        assert arr.shape == shape, (name, arr.shape, shape)
        scheme = "ones" if rule == "ones" else "normal(mean=0,std=0.02)"
        ref = np.array(reference.values(seed, name, scheme, shape, 0, arr.size)).reshape(shape)
        expected_values = round_to(ref, dtype)
        # One step of the stored type: the f32 pipeline and the float64 reference may round
        # to neighbouring values.
        step = {"F32": 2.0**-20, "F16": 2.0**-10, "BF16": 2.0**-7}[dtype]
        bad = np.abs(arr - expected_values) > step * np.maximum(np.abs(expected_values), 0.02)
        assert not bad.any(), (name, np.argwhere(bad)[:3])
        total += arr.size
    print(f"llama-tiny: {len(expected)} tensors, {total} values match the reference")


if __name__ == "__main__":
    kind, path, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    {"gpt2": check_gpt2, "llama-tiny": check_llama_dir}[kind](path, seed)
