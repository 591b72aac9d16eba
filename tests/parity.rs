//! Parity with PyTorch's and JAX's initializers (`tests/python/parity.py`): for conv, grouped,
//! transposed, 1-D and zero-element shapes, every dtype of the far-tail truncated normals, the
//! CLI's tensors against the framework's (JAX itself; PyTorch through a NumPy transcription of
//! `torch.nn.init`, since its PyPI wheel is too large for CI): two-sample KS and std within
//! sampling error, orthogonality to float tolerance, exact equality where deterministic.
//!
//! Needs a Python with numpy (and jax for the JAX half): `WEIGHT_INIT_PYTHON` names it.
//! Without numpy the test prints SKIP and passes, unless `WEIGHT_INIT_REQUIRE_PYTHON=1`
//! (`scripts/test` installs both); a missing jax makes the script print SKIP, which CI
//! rejects.

use std::process::Command;

#[test]
fn initializers_match_pytorch_and_jax_in_distribution() {
    let python = std::env::var("WEIGHT_INIT_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_numpy = Command::new(&python)
        .args(["-c", "import numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_numpy {
        let required = std::env::var("WEIGHT_INIT_REQUIRE_PYTHON").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "WEIGHT_INIT_REQUIRE_PYTHON=1 but {python} lacks numpy"
        );
        eprintln!("SKIP initializers_match_pytorch_and_jax: {python} lacks numpy");
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let script = format!("{}/tests/python/parity.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(&python)
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_weight-init"))
        .arg(work.path())
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    // Echoed so that a SKIP line reaches the test log (and CI's check for it).
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "parity failures:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
