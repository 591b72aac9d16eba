//! A GPU that fails: `--device auto` (an [`Engine::GpuWithFallback`]) moves to the CPU path
//! with one warning and the same values; `--device gpu` (an [`Engine::Gpu`]) returns our error
//! with the cause. The failure is real: the device is destroyed, which wgpu reports as a lost
//! device.

mod common;

use std::process::Command;
use std::sync::Mutex;

use weight_init::dtype::Dtype;
use weight_init::engine::Engine;
use weight_init::gpu::{AdapterPreference, GpuContext};
use weight_init::spec::TensorSpec;

/// Warnings logged by the library, collected by [`Warnings`].
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A logger that keeps this crate's warnings.
struct Warnings;

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn && metadata.target().starts_with("weight_init")
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            WARNINGS.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// A GPU context of its own (not the shared one: this test destroys its device).
fn lost_gpu() -> Option<GpuContext> {
    drop(common::gpu("a lost device")?);
    let gpu = GpuContext::new(AdapterPreference::Any).expect("an adapter was found above");
    gpu.device().destroy();
    Some(gpu)
}

#[test]
fn a_lost_device_falls_back_to_the_cpu_with_one_warning_and_the_same_values() {
    log::set_logger(&Warnings).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let Some(gpu) = lost_gpu() else {
        return;
    };
    let plan = TensorSpec::new("W1", vec![300, 77], "he".parse().unwrap())
        .plan(11)
        .unwrap();
    let engine = Engine::with_cpu_fallback(gpu);
    WARNINGS.lock().unwrap().clear();

    let values = engine.fill(&plan).expect("the CPU path takes over");
    assert_eq!(values, Engine::Cpu.fill(&plan).unwrap());
    // Later work, of every kind, goes to the CPU path without another warning.
    let mut half = vec![0u8; 1001 * 2];
    engine
        .fill_range_as(&plan, Dtype::BF16, 5, &mut half)
        .unwrap();
    let mut expected = vec![0u8; half.len()];
    weight_init::cpu::fill_range_as(&plan, Dtype::BF16, 5, &mut expected).unwrap();
    assert_eq!(half, expected);
    let mut words = [0u32; 8];
    engine.words(3, 4, 5, &mut words).unwrap();
    let mut cpu_words = [0u32; 8];
    weight_init::cpu::words(3, 4, 5, &mut cpu_words).unwrap();
    assert_eq!(words, cpu_words);

    let warnings = WARNINGS.lock().unwrap().clone();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("using the CPU path"), "{warnings:?}");
    assert!(
        engine.to_string().contains("after a GPU failure"),
        "{engine}"
    );

    // Without the fallback, the same failure is an error of ours that names the cause.
    let Some(gpu) = lost_gpu() else {
        return;
    };
    let err = Engine::Gpu(Box::new(gpu)).fill(&plan).unwrap_err();
    assert!(err.is_device_error(), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("GPU"), "{message}");
    assert!(
        message.to_ascii_lowercase().contains("destroyed") || message.contains("lost"),
        "the cause is missing: {message}"
    );
}

/// `--device auto` with no hardware GPU (the state of a machine with only lavapipe, or none):
/// one warning, and the CPU path's values.
#[test]
fn device_auto_without_a_hardware_gpu_warns_once_and_prints_the_cpu_values() {
    let run = |device: &str| {
        Command::new(env!("CARGO_BIN_EXE_weight-init"))
            .args(["init", "--shape", "3,5", "--seed", "2", "--device", device])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let (auto, cpu) = (run("auto"), run("cpu"));
    assert!(auto.status.success());
    assert_eq!(auto.stdout, cpu.stdout);
    let err = String::from_utf8_lossy(&auto.stderr);
    if err.is_empty() {
        // A hardware GPU: the values are still the CPU's, as compared above.
        return;
    }
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("WARN") && err.contains("using the CPU path"),
        "{err}"
    );
}

/// `--device gpu` with no adapter at all gives our error, which says what to install.
#[test]
fn device_gpu_without_an_adapter_names_the_cause() {
    // A backend this platform does not have, through wgpu's own variable: no adapter.
    let backend = if cfg!(target_os = "macos") {
        "dx12"
    } else {
        "metal"
    };
    let out = Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(["init", "--seed", "2", "--device", "gpu"])
        .env("WGPU_BACKEND", backend)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("error: no GPU adapter found"), "{err}");
    assert!(out.stdout.is_empty());
}
