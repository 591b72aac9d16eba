#!/usr/bin/env python3
"""Loads files written by the weight-init CLI with numpy and the safetensors package and
compares every value with the independent reference in reference.py.

    check_files.py W.npy NET.safetensors

W.npy must hold `init --shape 64,32 --scheme he --seed 5`; NET.safetensors must hold
`init --layers 3,5,2 --scheme xavier --seed 5`. Prints one line per tensor and exits non-zero
on any mismatch.
"""

import sys

import numpy as np
from safetensors.numpy import load_file

import reference

REL_TOL = 1e-5


def compare(name, array, seed, scheme, shape):
    assert array.dtype == np.float32, f"{name}: dtype {array.dtype}"
    assert array.shape == tuple(shape), f"{name}: shape {array.shape} != {shape}"
    assert np.isfinite(array).all(), f"{name}: non-finite values"
    expected = np.array(reference.values(seed, name, scheme, shape, 0, array.size))
    _, _, scale = reference.distribution(scheme, shape)
    tolerance = REL_TOL * np.maximum(np.abs(expected), scale)
    worst = np.max(np.abs(array.ravel().astype(np.float64) - expected) - tolerance)
    assert worst <= 0, f"{name}: differs from the reference by {worst} beyond tolerance"
    print(f"{name}: {array.size} values match the reference (std {array.std():.6f})")


def main(npy_path, safetensors_path):
    compare("W1", np.load(npy_path), 5, "he", (64, 32))
    tensors = load_file(safetensors_path)
    assert sorted(tensors) == ["W1", "W2"], sorted(tensors)
    compare("W1", tensors["W1"], 5, "xavier", (5, 3))
    compare("W2", tensors["W2"], 5, "xavier", (2, 5))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
