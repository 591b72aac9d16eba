//! Files written by the CLI load in Python's numpy and safetensors packages, with the values
//! of the independent reference (`tests/python/check_files.py`), and presets and sharded
//! bf16/f16/f32 checkpoints check out against the published state dicts
//! (`tests/python/check_checkpoint.py`).
//!
//! Needs a Python with numpy and safetensors: `WEIGHT_INIT_PYTHON` names it (default
//! `python3`). Without one the test prints SKIP and passes, unless
//! `WEIGHT_INIT_REQUIRE_PYTHON=1` (set by `scripts/test`, which installs both).

use std::process::Command;

mod common;

fn run_cli(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Python to use, or `None` (after printing SKIP) when it lacks numpy or safetensors.
fn python(test: &str) -> Option<String> {
    let python = std::env::var("WEIGHT_INIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if importable {
        return Some(python);
    }
    let required = std::env::var("WEIGHT_INIT_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "WEIGHT_INIT_REQUIRE_PYTHON=1 but {python} lacks numpy or safetensors"
    );
    common::skip(test, &format!("{python} lacks numpy or safetensors"));
    None
}

/// Runs a script from tests/python and returns its stdout.
fn run_script(python: &str, script: &str, args: &[&str]) -> String {
    let path = format!("{}/tests/python/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python).arg(path).args(args).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn numpy_and_safetensors_load_cli_files_with_the_reference_values() {
    let Some(python) = python("numpy_and_safetensors_load_cli_files") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("w.npy");
    let st = dir.path().join("net.safetensors");
    let npy_arg = npy.to_str().unwrap();
    let st_arg = st.to_str().unwrap();
    run_cli(&[
        "init", "--shape", "64,32", "--scheme", "he", "--seed", "5", "--device", "cpu", "--out",
        npy_arg,
    ]);
    run_cli(&[
        "init", "--layers", "3,5,2", "--scheme", "xavier", "--seed", "5", "--device", "cpu",
        "--out", st_arg,
    ]);
    let text = run_script(&python, "check_files.py", &[npy_arg, st_arg]);
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn sharded_bf16_and_f16_checkpoints_load_with_the_reference_values() {
    let Some(python) = python("sharded_bf16_and_f16_checkpoints_load") else {
        return;
    };
    for dtype in ["bf16", "f16", "f32"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ckpt");
        run_cli(&[
            "init",
            "--preset",
            "llama-tiny",
            "--seed",
            "21",
            "--dtype",
            dtype,
            "--device",
            "cpu",
            "--max-shard-size",
            "50kB",
            "--out",
            out.to_str().unwrap(),
        ]);
        let text = run_script(
            &python,
            "check_checkpoint.py",
            &["llama-tiny", out.to_str().unwrap(), "21"],
        );
        assert!(text.contains("values match the reference"), "{text}");
    }
}

#[test]
fn gpt2_preset_loads_in_python_with_gpt2_names_shapes_and_init() {
    let Some(python) = python("gpt2_preset_loads_in_python") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt2.safetensors");
    run_cli(&[
        "init",
        "--preset",
        "gpt2",
        "--seed",
        "0",
        "--device",
        "cpu",
        "--out",
        path.to_str().unwrap(),
    ]);
    let text = run_script(
        &python,
        "check_checkpoint.py",
        &["gpt2", path.to_str().unwrap(), "0"],
    );
    assert!(text.contains("148 tensors match"), "{text}");
}
