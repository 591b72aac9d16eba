//! `weight_init::probe` against the mean-field math of signal propagation, on small networks
//! with fixed seeds, and the `weight-init probe` command's output files.
//!
//! # Where the bounds come from
//!
//! Given the previous layer `h`, column `j` of `z = h Wᵀ` (one entry per batch row) is
//! exactly Gaussian for Gaussian weights, and the `n = width` columns are independent and
//! identically distributed. So `q̂_i`, the mean of `h_i²` over the batch and the units, is a
//! mean of `n` i.i.d. column means `c_j`, and its expectation follows the recursion in the
//! module docs exactly: for ReLU, `E[q̂_i | h] = (n σ_w² / 2) q̂_{i-1}`. The relative variance
//! of a column mean is at most that of one entry, the batch rows being at worst fully
//! correlated: for `relu(z)²` it is `(E[z⁴]/2 - (E[z²]/2)²) / (E[z²]/2)² = (3/2 - 1/4) / (1/4)
//! = 5`. Hence `Var(log q̂_i) ≤ 5/n` per layer, adding up over layers, and since std ∝ √q̂
//! (for ReLU outputs `mean² / q ≈ 1/π` in every layer), `Var(log std_i) ≤ 5/(4n)` per layer.
//! Bounds are `Z_BOUND` of those standard deviations: a one-sided normal tail of about 3e-5
//! per comparison, so a correct implementation fails less than once in a thousand runs of
//! the whole file even before the seeds are fixed.

mod common;

use std::process::Command;

use weight_init::engine::Engine;
use weight_init::probe::{self, NonFinite, ProbeConfig, ProbeReport};
use weight_init::scheme::Nonlinearity;

/// Standard deviations a statistic may stray from its expectation (see the module docs).
const Z_BOUND: f64 = 4.0;

fn probe(config: ProbeConfig, schemes: &str) -> ProbeReport {
    let schemes = probe::parse_schemes(schemes).unwrap();
    probe::run(&config, &schemes, &Engine::Cpu).unwrap()
}

fn relu(depth: usize, width: usize, batch: usize) -> ProbeConfig {
    ProbeConfig {
        depth,
        width,
        batch,
        activation: Nonlinearity::Relu,
        seed: 11,
    }
}

/// The std after each layer, unwrapped: the test expects no overflow.
fn stds(report: &ProbeReport, scheme: usize) -> Vec<f64> {
    let run = &report.schemes[scheme];
    assert_eq!(run.overflow, None, "{}", run.label);
    run.activation_std.iter().map(|v| v.unwrap()).collect()
}

#[test]
fn plain_normal_weights_grow_relu_activations_by_sqrt_half_the_width_per_layer() {
    let (width, depth) = (256, 6);
    let report = probe(relu(depth, width, 64), "normal");
    let std = stds(&report, 0);
    let expected = (width as f64 / 2.0).sqrt();
    // One layer's ratio: log-sd at most sqrt(5/(4n)). From layer 1 on, both sides are ReLU
    // outputs; the input (zero mean) to layer 1 ratio also has the factor sqrt(1 - 1/π).
    let tolerance = Z_BOUND * (5.0 / (4.0 * width as f64)).sqrt();
    for i in 2..=depth {
        let ratio = std[i] / std[i - 1];
        assert!(
            (ratio / expected).ln().abs() <= tolerance,
            "layer {i}: ratio {ratio}, expected {expected} within a log of {tolerance}"
        );
    }
}

#[test]
fn he_weights_keep_relu_activations_at_one_scale_over_twenty_layers() {
    let (width, depth) = (256, 20);
    let report = probe(relu(depth, width, 64), "he");
    let std = stds(&report, 0);
    // Layer 1: q = n (2/n) / 2 E[x²] = 1 and std = sqrt(q (1 - 1/π)), within one layer's bound.
    let first = (1.0 - 1.0 / std::f64::consts::PI).sqrt();
    let one_layer = (5.0 / (4.0 * width as f64)).sqrt();
    assert!(
        (std[1] / first).ln().abs() <= Z_BOUND * one_layer,
        "layer 1: std {} vs {first}",
        std[1]
    );
    // Later layers wander from layer 1 as a random walk in log std: i - 1 steps.
    for i in 2..=depth {
        let tolerance = Z_BOUND * one_layer * ((i - 1) as f64).sqrt();
        assert!(
            (std[i] / std[1]).ln().abs() <= tolerance,
            "layer {i}: std {} vs layer 1's {}, allowed log ratio {tolerance}",
            std[i],
            std[1]
        );
    }
}

#[test]
fn xavier_weights_shrink_relu_activations_by_one_over_sqrt_two_per_layer() {
    let (width, depth) = (256, 12);
    let report = probe(relu(depth, width, 64), "xavier");
    let std = stds(&report, 0);
    // The geometric mean of the ratios from layer 1 to layer `depth`: the log-sd of the total
    // is sqrt(steps * 5/(4n)), spread over `steps` layers.
    let steps = (depth - 1) as f64;
    let per_layer = (std[depth] / std[1]).powf(1.0 / steps);
    let tolerance = Z_BOUND * (5.0 / (4.0 * width as f64) * steps).sqrt() / steps;
    assert!(
        (per_layer * 2f64.sqrt()).ln().abs() <= tolerance,
        "per-layer ratio {per_layer}, expected 1/sqrt(2) within a log of {tolerance}"
    );
}

#[test]
fn relu_is_homogeneous_so_he_and_plain_normal_runs_differ_by_the_exact_scale() {
    // Both schemes draw the same normals for a weight of a given name and scale them: with
    // s = sqrt(2/n), He's weights are s times plain N(0, 1)'s. ReLU commutes with positive
    // scaling, so h_i(He) = s^i h_i(normal), and dL/dW_i scales by s^(2 depth - 1) (s^depth
    // from the output in the loss, s^(depth - i) on the way back, s^(i - 1) from h_{i-1}).
    let (width, depth) = (64, 5);
    let report = probe(relu(depth, width, 16), "normal,he");
    let s = (2.0 / width as f64).sqrt();
    let (normal, he) = (&report.schemes[0], &report.schemes[1]);
    for i in 0..=depth {
        let ratio = he.activation_std[i].unwrap() / normal.activation_std[i].unwrap();
        // f32 rounding: a few ulps per product and sum, relative 1e-4 is far above it.
        assert!(
            (ratio / s.powi(i as i32) - 1.0).abs() < 1e-4,
            "layer {i}: {ratio}"
        );
    }
    for i in 0..depth {
        let ratio = he.grad_norm[i].unwrap() / normal.grad_norm[i].unwrap();
        assert!(
            (ratio / s.powi(2 * depth as i32 - 1) - 1.0).abs() < 1e-4,
            "layer {}: gradient ratio {ratio}",
            i + 1
        );
    }
}

#[test]
fn plain_normal_relu_networks_overflow_f32_where_the_growth_rate_says() {
    // std(z_L) = sqrt(2) (n/2)^(L/2) for N(0, 1) weights (q_L = (n/2)^L, Var z = n q_{L-1});
    // the largest of batch·n entries is about 4 std; f32 overflows at 2^128. For n = 512:
    // ln 2 / 2 + L ln(256) / 2 + ln 4 > 128 ln 2 first at L = 32; the random walk's log-sd
    // after 32 layers, sqrt(32 · 5 / (4 · 512)) ≈ 0.28, is a tenth of a layer's ln 16.
    let report = probe(relu(50, 512, 8), "normal");
    let run = &report.schemes[0];
    let overflow = run
        .overflow
        .expect("plain N(0, 1) weights overflow within 50 layers");
    assert!(
        (31..=33).contains(&overflow.layer),
        "overflow at layer {}",
        overflow.layer
    );
    assert!(
        run.activation_std[..overflow.layer]
            .iter()
            .all(|v| v.is_some_and(f64::is_finite))
    );
    assert!(
        run.activation_std[overflow.layer..]
            .iter()
            .all(Option::is_none)
    );
    assert!(run.grad_norm.iter().all(Option::is_none));

    let table = probe::activation_table(&report);
    let word = match overflow.value {
        NonFinite::Inf => "inf",
        NonFinite::Nan => "NaN",
    };
    let note = format!("normal: overflow ({word}) from layer {}", overflow.layer);
    assert!(table.contains(&note), "{table}");
    // No value is printed as inf or NaN: only the note names them.
    let cells = table.replace(&note, "");
    assert!(!cells.contains("inf") && !cells.contains("NaN"), "{table}");
}

/// `E[f(Z)]` for a standard normal `Z`, by Simpson's rule on [-12, 12] (the tail beyond holds
/// less than 1e-32 of the mass).
fn gaussian_mean(f: impl Fn(f64) -> f64) -> f64 {
    let (steps, half_range) = (4000, 12.0);
    let h = 2.0 * half_range / steps as f64;
    let sum: f64 = (0..=steps)
        .map(|k| {
            let z = -half_range + k as f64 * h;
            let weight = match k {
                0 => 1.0,
                k if k == steps => 1.0,
                k if k % 2 == 1 => 4.0,
                _ => 2.0,
            };
            weight * f(z) * (-z * z / 2.0).exp()
        })
        .sum();
    sum * h / 3.0 / (2.0 * std::f64::consts::PI).sqrt()
}

/// The mean-field prediction for tanh with Xavier gain `gain` on square layers, per layer
/// `i = 1 ..= depth`: the std `sqrt(q_i)`, `q_i = E[tanh²(gain sqrt(q_{i-1}) Z)]`, `q_0 = 1`,
/// and the variance bound on `log std_i` from the module docs carried through the recursion:
/// `V_i = e_i² V_{i-1} + (r_i + 1)/n` for `log q̂_i`, a quarter of it for `log std_i`. Here
/// `e_i` is the elasticity `d log q_i / d log q_{i-1}` (how much of the previous layer's error
/// survives), `r_i = E[tanh⁴]/E[tanh²]² - 1` the relative variance of one entry, and the extra
/// `1/n` covers the O(1/n) bias of a mean of tanh² at a random scale.
fn tanh_prediction(gain: f64, depth: usize, width: usize) -> Vec<(f64, f64)> {
    let mean_sq = |q: f64| gaussian_mean(|z| (gain * q.sqrt() * z).tanh().powi(2));
    let (mut q, mut var_log_q) = (1.0f64, 0.0f64);
    let mut out = Vec::new();
    for _ in 0..depth {
        let next = mean_sq(q);
        let elasticity = (mean_sq(q * 1.01).ln() - mean_sq(q / 1.01).ln()) / (2.0 * 1.01f64.ln());
        let fourth = gaussian_mean(|z| (gain * q.sqrt() * z).tanh().powi(4));
        let rel_var = fourth / (next * next) - 1.0;
        var_log_q = elasticity.powi(2) * var_log_q + (rel_var + 1.0) / width as f64;
        q = next;
        out.push((q.sqrt(), var_log_q / 4.0));
    }
    out
}

#[test]
fn tanh_with_xavier_gain_one_decays_and_gain_five_thirds_holds_near_its_fixed_point() {
    let (width, depth) = (512, 50);
    let config = ProbeConfig {
        activation: Nonlinearity::Tanh,
        ..relu(depth, width, 16)
    };
    // He with the tanh gain is Xavier with gain 5/3 on square layers: 5/3 / sqrt(n) either way.
    let report = probe(config, "xavier,he(nonlinearity=tanh)");
    for (column, gain) in [(0, 1.0), (1, 5.0 / 3.0)] {
        let std = stds(&report, column);
        for (i, (want, var_log)) in tanh_prediction(gain, depth, width).into_iter().enumerate() {
            let got = std[i + 1];
            let tolerance = Z_BOUND * var_log.sqrt();
            assert!(
                (got / want).ln().abs() <= tolerance,
                "gain {gain}, layer {}: std {got}, predicted {want} within a log of {tolerance}",
                i + 1
            );
        }
    }
    // The textbook numbers, from the same recursion: 0.63 after one layer and 0.10 after
    // fifty at gain 1; 0.65 at gain 5/3.
    let gain_one = tanh_prediction(1.0, depth, width);
    assert!((gain_one[0].0 - 0.628).abs() < 1e-3 && (gain_one[49].0 - 0.101).abs() < 1e-3);
    assert!((tanh_prediction(5.0 / 3.0, depth, width)[49].0 - 0.651).abs() < 1e-3);
}

#[test]
fn the_same_seed_gives_the_same_report_on_the_cpu_and_the_gpu() {
    let Some(gpu) = common::gpu("the_same_seed_gives_the_same_report_on_the_cpu_and_the_gpu")
    else {
        return;
    };
    let config = relu(3, 32, 8);
    let schemes = probe::parse_schemes("he,xavier").unwrap();
    let cpu = probe::run(&config, &schemes, &Engine::Cpu).unwrap();
    let on_gpu = probe::run(
        &config,
        &schemes,
        &Engine::Gpu(Box::new(
            weight_init::gpu::GpuContext::from_device(gpu.device(), gpu.queue()).unwrap(),
        )),
    )
    .unwrap();
    for (c, g) in cpu.schemes.iter().zip(&on_gpu.schemes) {
        for (a, b) in c.activation_std.iter().zip(&g.activation_std) {
            // Weights agree to a few ulps on a hardware GPU and exactly on lavapipe.
            let (a, b) = (a.unwrap(), b.unwrap());
            assert!((a - b).abs() <= 1e-5 * a, "{}: {a} vs {b}", c.label);
        }
    }
}

fn weight_init_bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_weight-init"))
}

#[test]
fn the_json_report_is_the_same_for_every_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let report = |threads: &str| {
        let json = dir.path().join(format!("probe-{threads}.json"));
        let out = weight_init_bin()
            .env("RAYON_NUM_THREADS", threads)
            .args([
                "probe",
                "--depth",
                "6",
                "--width",
                "300",
                "--batch",
                "70",
                "--device",
                "cpu",
                "--scheme",
                "he,xavier",
                "--json",
            ])
            .arg(&json)
            .output()
            .expect("the binary runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = std::fs::read_to_string(&json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        value["schemes"].clone()
    };
    // 300 x 70 activations span two partial-sum chunks, so the order of the sums matters.
    let one = report("1");
    assert_eq!(report("2"), one);
    assert_eq!(report("3"), one);
}

#[test]
fn the_probe_command_prints_both_tables_and_writes_json_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let (json, svg, png) = (
        dir.path().join("probe.json"),
        dir.path().join("probe.svg"),
        dir.path().join("probe.png"),
    );
    let run = |plot: &std::path::Path| {
        weight_init_bin()
            .args([
                "probe",
                "--depth",
                "40",
                "--width",
                "256",
                "--batch",
                "8",
                "--device",
                "cpu",
                "--scheme",
                "normal,he,xavier",
                "--seed",
                "3",
                "--json",
            ])
            .arg(&json)
            .arg("--plot")
            .arg(plot)
            .output()
            .unwrap()
    };
    let out = run(&svg);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();

    // Header and one row per layer, input included, in both tables.
    assert!(stdout.contains("std of the activations after each layer (relu, width 256"));
    assert!(stdout.contains("gradient norm ||dL/dW_i||_F per layer"));
    let header = stdout.lines().nth(1).unwrap();
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["layer", "normal", "he", "xavier"]
    );
    let input_row = stdout.lines().nth(2).unwrap();
    assert!(input_row.starts_with("input"), "{input_row}");
    // N(0, 1) with relu at width 256 grows 11.3x per layer: f32 overflows near layer 36.
    assert!(
        stdout.contains("normal: overflow (inf) from layer"),
        "{stdout}"
    );
    assert!(stdout.contains("normal: not computed, the forward pass overflowed"));

    // The JSON holds the same numbers the table shows: layer 10 of He, to 4 digits.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(report["width"], 256);
    assert_eq!(report["schemes"][1]["label"], "he");
    let he_10 = report["schemes"][1]["activation_std"][10].as_f64().unwrap();
    let row_10 = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some("10"))
        .unwrap();
    let cell: f64 = row_10.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((cell - he_10).abs() <= 5e-4 * he_10, "{cell} vs {he_10}");
    assert!(report["schemes"][0]["overflow"]["layer"].as_u64().is_some());
    assert_eq!(report["schemes"][0]["overflow"]["value"], "inf");

    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("xavier"));
    let out = run(&png);
    assert!(out.status.success());
    let png_bytes = std::fs::read(&png).unwrap();
    assert!(png_bytes.len() > 1000 && &png_bytes[1..4] == b"PNG");
}

#[test]
fn bad_probe_arguments_are_clear_errors() {
    for (args, needle) in [
        (&["--depth", "0"][..], "invalid depth: 0"),
        (&["--width", "0"][..], "invalid width: 0"),
        (&["--batch", "0"][..], "invalid batch: 0"),
        (&["--scheme", "bogus"][..], "unknown scheme \"bogus\""),
        (&["--scheme", "he,,xavier"][..], "empty entry"),
        (
            &["--activation", "swish"][..],
            "unknown nonlinearity \"swish\"",
        ),
        (&["--plot", "out.jpg"][..], "expected a .svg or .png"),
        (&["--depth", "many"][..], "--depth"),
    ] {
        // Small sizes unless the case sets them, so that a missed check finishes quickly.
        let mut command = weight_init_bin();
        command.args(["probe", "--device", "cpu"]).args(args);
        for (flag, value) in [("--depth", "2"), ("--width", "8"), ("--batch", "2")] {
            if !args.contains(&flag) {
                command.args([flag, value]);
            }
        }
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
