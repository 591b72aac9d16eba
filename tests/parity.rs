//! Parity with PyTorch's and JAX's initializers, the frameworks themselves
//! (`tests/python/parity.py`): the CLI's tensors against `torch.nn.init` and
//! `jax.nn.initializers` for conv, grouped, transposed, 1-D and zero-element shapes and the
//! far-tail truncated normals in every dtype (two-sample KS, std and uniform bounds within
//! sampling error, orthogonality to float tolerance, exact equality where deterministic),
//! which shapes each accepts, and `torch.nn.init.calculate_gain` against our gain table
//! ([`Nonlinearity::gain`] for every name in [`NONLINEARITY_NAMES`]).
//!
//! Needs a Python with numpy, torch and jax: `WEIGHT_INIT_PYTHON` names it (`scripts/test`
//! installs them into `target/test-venv`). Without numpy the test prints a SKIP line and
//! passes; without torch or jax the script skips that framework's half and prints a SKIP
//! line. With `WEIGHT_INIT_REQUIRE_PYTHON=1` (set by `scripts/test` and CI) every one of these
//! is a failure instead.

use std::process::Command;

use weight_init::scheme::{KAIMING_DEFAULT, NONLINEARITY_NAMES, Nonlinearity};

mod common;

const TEST: &str = "initializers_match_pytorch_and_jax";

/// `[{name, param, gain}]`: our gain for every nonlinearity name, leaky_relu also with
/// explicit slopes (`param`, as `calculate_gain(name, param)` takes it) and with He's default
/// slope 0 (`kaiming_*_`'s `a = 0`).
fn our_gains() -> serde_json::Value {
    let mut rows = Vec::new();
    for name in NONLINEARITY_NAMES {
        let gain = name
            .parse::<Nonlinearity>()
            .expect("a listed name parses")
            .gain();
        rows.push(serde_json::json!({ "name": name, "param": null, "gain": gain }));
    }
    for slope in [0.0, 0.2, 1.0, -0.5, 3.0, 5f64.sqrt()] {
        let gain = Nonlinearity::LeakyRelu {
            negative_slope: slope,
        }
        .gain();
        rows.push(serde_json::json!({ "name": "leaky_relu", "param": slope, "gain": gain }));
    }
    assert_eq!(KAIMING_DEFAULT.gain(), 2f64.sqrt());
    serde_json::Value::Array(rows)
}

#[test]
fn initializers_match_pytorch_and_jax_in_distribution() {
    let python = std::env::var("WEIGHT_INIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let required = std::env::var("WEIGHT_INIT_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    let has_numpy = Command::new(&python)
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        assert!(
            !required,
            "WEIGHT_INIT_REQUIRE_PYTHON=1 but {python} lacks numpy"
        );
        common::skip(TEST, &format!("{python} lacks numpy"));
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let gains = work.path().join("gains.json");
    std::fs::write(&gains, our_gains().to_string()).unwrap();
    let script = format!("{}/tests/python/parity.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_weight-init"))
        .arg(work.path())
        .arg(&gains)
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Every case's line, for `--nocapture` and failures; the script's SKIP lines also where
    // CI's check for them sees them.
    println!("{stdout}");
    let skips: Vec<&str> = stdout.lines().filter(|l| l.starts_with("SKIP ")).collect();
    for line in &skips {
        common::uncaptured(line);
    }
    assert!(
        out.status.success(),
        "parity failures (exit status {}):\n{stdout}{stderr}",
        out.status
    );
    assert!(
        !required || skips.is_empty(),
        "WEIGHT_INIT_REQUIRE_PYTHON=1 but parity.py skipped:\n{}",
        skips.join("\n")
    );
}
