//! Settings shared by the benches: sizes, the smoke-test mode and the benchmark tensors.

#![allow(dead_code)]

use std::time::Duration;

use criterion::Criterion;
use weight_init::scheme::Scheme;
use weight_init::spec::{FillPlan, TensorSpec};

/// Environment variable that selects the short smoke-test mode.
pub const SMALL_MODE_VAR: &str = "WEIGHT_INIT_BENCH_SMALL";

/// Arbitrary but fixed: values, not timings, depend on the seed.
pub const SEED: u64 = 0x5EED;

/// The schemes measured, as the CLI spells them: one normal and one uniform distribution.
pub const SCHEMES: [&str; 2] = ["normal", "he-uniform"];

/// Columns of the benchmark tensors: a `Linear(1024, n / 1024)` weight, so that fan-based
/// schemes have a realistic fan-in.
pub const FAN_IN: usize = 1024;

/// Whether `WEIGHT_INIT_BENCH_SMALL` is set to something other than "" or "0".
pub fn small_mode() -> bool {
    std::env::var_os(SMALL_MODE_VAR).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Tensor sizes in elements: 2^16 is dominated by per-call latency, 2^22 (16 MiB) by the
/// kernel and the transfer.
pub fn sizes() -> &'static [usize] {
    if small_mode() {
        &[1 << 16]
    } else {
        &[1 << 16, 1 << 22]
    }
}

/// Criterion's defaults, or a few short samples in small mode so `cargo bench` is a quick
/// smoke test. Command-line flags still override either.
pub fn config() -> Criterion {
    let c = Criterion::default();
    if small_mode() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300))
            .without_plots()
    } else {
        c
    }
}

/// The plan for an `[n / FAN_IN, FAN_IN]` tensor under `scheme`.
pub fn plan(scheme: &str, elems: usize) -> FillPlan {
    let scheme: Scheme = scheme
        .parse()
        .expect("SCHEMES holds only scheme names the parser accepts");
    let shape = vec![(elems / FAN_IN) as u64, FAN_IN as u64];
    TensorSpec::new("bench", shape, scheme)
        .plan(SEED)
        .expect("a non-empty 2-D shape resolves under every scheme in SCHEMES")
}
