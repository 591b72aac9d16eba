//! The first values of several (seed, name, scheme) triples against an independent float64
//! reference (`tests/python/reference.py`, table in `tests/data/reference_values.tsv`), on the
//! CPU and the GPU: every kind of elementwise scheme (normal, uniform, He/Kaiming with several
//! nonlinearities and modes, Xavier, LeCun, PyTorch's and JAX's truncated normals, variance
//! scaling), each with at least two seeds and two tensor names. Any change to the stream layout, the uniform conversion, Box–Muller or the
//! truncated normal's inversion changes these values completely; such a change must be
//! deliberate and announced as breaking.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use weight_init::spec::{FillPlan, TensorSpec};

/// Relative tolerance against the float64 reference: the f32 pipeline's own rounding (a few
/// ulps in ln, sqrt, the sine and cosine polynomials and the final scaling) stays below 1e-6
/// of max(|value|, scale); 1e-5 leaves margin while any stream change misses by orders of
/// magnitude.
const REL_TOL: f64 = 1e-5;

struct Case {
    seed: u64,
    name: String,
    scheme: String,
    plan: FillPlan,
    first: u64,
    expected: Vec<f64>,
    line: String,
}

fn cases() -> Vec<Case> {
    include_str!("data/reference_values.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let shape = f[3].split(',').map(|d| d.parse().unwrap()).collect();
            let spec = TensorSpec::new(f[1], shape, f[2].parse().unwrap());
            let seed = f[0].parse().unwrap();
            Case {
                seed,
                name: f[1].to_string(),
                scheme: f[2].to_string(),
                plan: spec.plan(seed).unwrap(),
                first: f[4].parse().unwrap(),
                expected: f[5..].iter().map(|v| v.parse().unwrap()).collect(),
                line: line.chars().take(60).collect(),
            }
        })
        .collect()
}

fn check(case: &Case, got: &[f32], path: &str) {
    let scale = f64::from(case.plan.affine().scale);
    for (i, (&g, &e)) in got.iter().zip(&case.expected).enumerate() {
        let tol = REL_TOL * e.abs().max(scale);
        assert!(
            (f64::from(g) - e).abs() <= tol,
            "{path}, {}: element {}: got {g}, reference {e}",
            case.line,
            case.first + i as u64
        );
    }
}

#[test]
fn every_pinned_scheme_has_two_seeds_and_two_names() {
    let cases = cases();
    assert!(cases.len() >= 47, "only {} rows in the table", cases.len());
    let mut by_scheme: BTreeMap<&str, (BTreeSet<u64>, BTreeSet<&str>)> = BTreeMap::new();
    for case in &cases {
        let entry = by_scheme.entry(&case.scheme).or_default();
        entry.0.insert(case.seed);
        entry.1.insert(&case.name);
    }
    for (scheme, (seeds, names)) in &by_scheme {
        assert!(
            seeds.len() >= 2 && names.len() >= 2,
            "{scheme}: seeds {seeds:?}, names {names:?}"
        );
    }
    assert!(by_scheme.len() >= 23, "{:?}", by_scheme.keys());
}

#[test]
fn cpu_values_match_the_independent_reference() {
    let cases = cases();
    for case in &cases {
        let mut got = vec![0.0f32; case.expected.len()];
        weight_init::cpu::fill_range(&case.plan, case.first, &mut got).unwrap();
        check(case, &got, "CPU");
    }
}

#[test]
fn gpu_values_match_the_independent_reference() {
    let Some(gpu) = common::gpu("gpu_values_match_the_independent_reference") else {
        return;
    };
    for case in &cases() {
        let mut got = vec![0.0f32; case.expected.len()];
        gpu.fill_range(&case.plan, case.first, &mut got).unwrap();
        check(case, &got, "GPU");
    }
}
