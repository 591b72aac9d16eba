//! Thousands of fills on one GPU context: no GPU memory, host memory or wgpu object is left
//! behind by a fill, so a long-lived initializer does not grow.

mod common;

use std::time::{Duration, Instant};

use weight_init::dtype::Dtype;
use weight_init::gpu::GpuContext;
use weight_init::spec::{FillPlan, TensorSpec};

/// Fills in the run; the first and the last `WINDOW` are compared.
const FILLS: usize = 3000;
/// Fills per compared window.
const WINDOW: usize = 100;
/// Elements per fill: 16 KiB of f32, so that a leaked scratch buffer pair per fill would add
/// 32 KiB a fill, about 90 MiB over the run.
const ELEMS: usize = 4096;

/// What the process and the device hold after a window.
#[derive(Clone, Copy)]
struct Usage {
    /// Live sub-allocations of the device's memory allocator (`None` where the backend
    /// gives no report).
    allocations: Option<usize>,
    /// Bytes those allocations use.
    allocated_bytes: Option<u64>,
    /// The process's resident memory, from `/proc/self/statm`.
    resident_bytes: u64,
    /// Wall time of the window's fills (logged, never asserted).
    elapsed: Duration,
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("statm's second field is the resident page count");
    // 4 KiB pages: the size on every Linux target this project runs its tests on.
    pages * 4096
}

fn usage(gpu: &GpuContext, elapsed: Duration) -> Usage {
    let report = gpu.device().generate_allocator_report();
    Usage {
        allocations: report.as_ref().map(|r| r.allocations.len()),
        allocated_bytes: report.as_ref().map(|r| r.total_allocated_bytes),
        resident_bytes: resident_bytes(),
        elapsed,
    }
}

/// Fill `i` of the run: varying tensors, dtypes and offsets, so that every path of
/// `fill_range_as` is exercised.
fn fill(gpu: &GpuContext, plans: &[FillPlan], i: usize, out: &mut [u8]) -> Dtype {
    let dtype = [Dtype::F32, Dtype::F16, Dtype::BF16][i % 3];
    let plan = &plans[i % plans.len()];
    let n = ELEMS - i % 7;
    let first = (i as u64 * 9973) % (plan.len_elems - n as u64);
    let out = &mut out[..n * dtype.size_bytes()];
    gpu.fill_range_as(plan, dtype, first, out)
        .unwrap_or_else(|e| panic!("fill {i}: {e}"));
    dtype
}

#[test]
fn thousands_of_fills_on_one_context_leave_nothing_behind() {
    let Some(gpu) = common::gpu("thousands_of_fills_on_one_context_leave_nothing_behind") else {
        return;
    };
    let plans: Vec<FillPlan> = [("a", "he"), ("b", "uniform"), ("c", "xavier-normal")]
        .iter()
        .map(|(name, scheme)| {
            TensorSpec::new(*name, vec![512, 333], scheme.parse().unwrap())
                .plan(5)
                .unwrap()
        })
        .collect();
    let mut out = vec![0u8; ELEMS * 4];

    let mut windows = Vec::new();
    let mut start = Instant::now();
    for i in 0..FILLS {
        fill(&gpu, &plans, i, &mut out);
        if i + 1 == WINDOW || i + 1 == FILLS {
            windows.push(usage(&gpu, start.elapsed()));
        }
        if i + 1 == FILLS - WINDOW {
            start = Instant::now();
        }
    }
    let (first, last) = (windows[0], windows[1]);
    for (which, u) in [("first", first), ("last", last)] {
        eprintln!(
            "{which} {WINDOW} fills: {:?}; then {:?} live GPU allocations of {:?} bytes, \
             {} resident bytes",
            u.elapsed, u.allocations, u.allocated_bytes, u.resident_bytes
        );
    }

    // The last fill still gives the CPU's values.
    let dtype = fill(&gpu, &plans, FILLS, &mut out);
    let n = ELEMS - FILLS % 7;
    let plan = &plans[FILLS % plans.len()];
    let first_elem = (FILLS as u64 * 9973) % (plan.len_elems - n as u64);
    let mut expected = vec![0u8; n * dtype.size_bytes()];
    weight_init::cpu::fill_range_as(plan, dtype, first_elem, &mut expected).unwrap();
    if gpu.is_software() {
        assert!(
            out[..expected.len()] == expected[..],
            "fill {FILLS} differs from the CPU"
        );
    }

    // A fill leaks nothing: the allocator holds no more live allocations or bytes than after
    // the first window (each fill frees its scratch buffers before returning).
    if let (Some(a), Some(b)) = (first.allocations, last.allocations) {
        assert!(b <= a, "live GPU allocations grew from {a} to {b}");
    } else {
        eprintln!("the backend gives no allocator report; checking host memory only");
    }
    if let (Some(a), Some(b)) = (first.allocated_bytes, last.allocated_bytes) {
        assert!(b <= a, "allocated GPU bytes grew from {a} to {b}");
    }
    // Host memory (where a software adapter keeps its buffers): a leak of one scratch pair
    // per fill would add about 90 MiB; allocator noise stays far below 16 MiB.
    let growth = last.resident_bytes.saturating_sub(first.resident_bytes);
    assert!(
        growth < 16 << 20,
        "resident memory grew by {growth} bytes over {} fills",
        FILLS - WINDOW
    );
}
