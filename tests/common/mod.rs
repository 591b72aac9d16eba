//! Shared test helpers: one GPU context per test binary, and the rule for missing adapters.
//!
//! GPU tests call [`gpu`]. Without an adapter they print a visible SKIP line ([`skip`]) and
//! pass, unless `WEIGHT_INIT_REQUIRE_GPU=1` is set (CI sets it, with lavapipe installed), in
//! which case the missing adapter fails the test.

#![allow(dead_code)]

use std::io::Write;
use std::sync::{Mutex, MutexGuard, OnceLock};

use weight_init::gpu::{AdapterPreference, GpuContext, Multiply};

/// The environment variable that turns a GPU skip into a failure.
pub const REQUIRE_GPU_VAR: &str = "WEIGHT_INIT_REQUIRE_GPU";

static GPU: OnceLock<Option<Mutex<GpuContext>>> = OnceLock::new();

/// The shared GPU context (serialized: one test uses it at a time), or `None` after printing
/// why the test is skipped.
///
/// # Panics
///
/// If no adapter is available and `WEIGHT_INIT_REQUIRE_GPU=1`.
pub fn gpu(test: &str) -> Option<MutexGuard<'static, GpuContext>> {
    let slot = GPU.get_or_init(|| match GpuContext::new(AdapterPreference::Any) {
        Ok(ctx) => Some(Mutex::new(ctx)),
        Err(e) => {
            if std::env::var(REQUIRE_GPU_VAR).is_ok_and(|v| v == "1") {
                panic!("{REQUIRE_GPU_VAR}=1 but no GPU adapter is usable: {e}");
            }
            eprintln!("no GPU adapter ({e})");
            None
        }
    });
    match slot {
        Some(m) => {
            let mut guard = m.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            guard.set_max_chunk_elems(None);
            let best = Multiply::best_for(guard.device().features());
            if guard.multiply() != best {
                guard
                    .set_multiply(best)
                    .expect("the device's own best multiply builds");
            }
            if guard.workgroup_size() != weight_init::gpu::kernel::WORKGROUP_SIZE {
                guard
                    .set_workgroup_size(weight_init::gpu::kernel::WORKGROUP_SIZE)
                    .expect("the default workgroup size builds");
            }
            Some(guard)
        }
        None => {
            skip(
                test,
                &format!("no GPU adapter; set {REQUIRE_GPU_VAR}=1 to make this fail"),
            );
            None
        }
    }
}

/// The multiply variants `gpu` can run: the emulated one always, the 64-bit one where the
/// device has `SHADER_INT64` (lavapipe does).
pub fn multiplies(gpu: &GpuContext) -> Vec<Multiply> {
    let mut variants = vec![Multiply::Emulated];
    if Multiply::best_for(gpu.device().features()) == Multiply::Int64 {
        variants.push(Multiply::Int64);
    }
    variants
}

/// Prints `SKIP {test}: {why}` where the test log shows it, passing or not.
///
/// libtest captures `print!` and `eprint!` output and shows it only for failing tests, so a
/// passing test's skip would never reach the log that CI greps for `^SKIP `. This writes to
/// the process's own stdout instead, which libtest does not capture, after a newline so that
/// the line starts a line even when libtest has just printed `test name ... `
/// (`--test-threads=1`).
pub fn skip(test: &str, why: &str) {
    uncaptured(&format!("SKIP {test}: {why}"));
}

/// Writes `line` on its own line to the process's stdout, past libtest's output capture.
pub fn uncaptured(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout is no reason to fail a test.
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
}

/// Distance in units in the last place between two finite f32 of the same sign (0 if equal).
pub fn ulp_distance(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    // Map the float bit patterns onto a monotonic integer line.
    let key = |x: f32| {
        let bits = x.to_bits() as i32;
        if bits < 0 { i32::MIN - bits } else { bits }
    };
    key(a).abs_diff(key(b))
}

/// The bytes of `buffer` (which needs `COPY_SRC` usage), copied out through a mapped staging
/// buffer.
pub fn read_buffer(gpu: &GpuContext, buffer: &wgpu::Buffer) -> Vec<u8> {
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, None);
    gpu.queue().submit([encoder.finish()]);
    let (sender, receiver) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| sender.send(r).unwrap());
    gpu.device()
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    receiver.recv().unwrap().unwrap();
    let bytes = staging.get_mapped_range(..).unwrap().to_vec();
    staging.unmap();
    bytes
}
