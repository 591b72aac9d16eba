//! Files written by the CLI load in Python's numpy and safetensors packages, with the values
//! of the independent reference (`tests/python/check_files.py`).
//!
//! Needs a Python with numpy and safetensors: `WEIGHT_INIT_PYTHON` names it (default
//! `python3`). Without one the test prints SKIP and passes, unless
//! `WEIGHT_INIT_REQUIRE_PYTHON=1` (set by `scripts/test`, which installs both).

use std::process::Command;

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

#[test]
fn numpy_and_safetensors_load_cli_files_with_the_reference_values() {
    let python = std::env::var("WEIGHT_INIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let importable = Command::new(&python)
        .args(["-c", "import numpy, safetensors"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !importable {
        let required = std::env::var("WEIGHT_INIT_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "WEIGHT_INIT_REQUIRE_PYTHON=1 but {python} lacks numpy or safetensors"
        );
        eprintln!("SKIP numpy/safetensors readers: {python} lacks numpy or safetensors");
        return;
    }

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

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/check_files.py");
    let out = Command::new(&python)
        .args([script, npy_arg, st_arg])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 3, "{text}");
}
