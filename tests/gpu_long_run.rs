//! Thousands of fills on one GPU context: no GPU memory, host memory or wgpu object is left
//! behind by a fill, so a long-lived initializer does not grow, and the last fills take no
//! longer than the first.

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
/// Largest allowed ratio of the last window's median fill time to the first's. This is a
/// check for degradation, not a speed measurement: the tests share a 2-core VM with other
/// builds and test binaries, which moves single fills by several times but a median of a
/// hundred by much less, so 3 leaves room for that noise. What it catches grows with the
/// number of fills: per-fill work that piles up (a leaked buffer the allocator walks, a queue
/// of unreclaimed submissions, a growing error-scope or callback list) makes the last fills
/// tens of times slower after 3000 of them, far past 3.
const MAX_SLOWDOWN: f64 = 3.0;

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
    /// The median wall time of the window's fills.
    median: Duration,
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

/// The usage now, after a window whose fills took `times`.
fn usage(gpu: &GpuContext, times: &[Duration]) -> Usage {
    let report = gpu.device().generate_allocator_report();
    let mut sorted = times.to_vec();
    sorted.sort();
    let mid = sorted.len() / 2;
    let median = if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2
    } else {
        sorted[mid]
    };
    Usage {
        allocations: report.as_ref().map(|r| r.allocations.len()),
        allocated_bytes: report.as_ref().map(|r| r.total_allocated_bytes),
        resident_bytes: resident_bytes(),
        median,
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
fn thousands_of_fills_on_one_context_leave_nothing_behind_and_do_not_slow_down() {
    let Some(gpu) =
        common::gpu("thousands_of_fills_on_one_context_leave_nothing_behind_and_do_not_slow_down")
    else {
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
    let mut times = Vec::with_capacity(FILLS);
    for i in 0..FILLS {
        let start = Instant::now();
        fill(&gpu, &plans, i, &mut out);
        times.push(start.elapsed());
        if i + 1 == WINDOW || i + 1 == FILLS {
            windows.push(usage(&gpu, &times[i + 1 - WINDOW..]));
        }
    }
    let (first, last) = (windows[0], windows[1]);
    for (which, u) in [("first", first), ("last", last)] {
        eprintln!(
            "{which} {WINDOW} fills: median {:?} a fill; then {:?} live GPU allocations of {:?} \
             bytes, {} resident bytes",
            u.median, u.allocations, u.allocated_bytes, u.resident_bytes
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

    // Nor does a fill slow down.
    let slowdown = last.median.as_secs_f64() / first.median.as_secs_f64();
    assert!(
        slowdown <= MAX_SLOWDOWN,
        "the median fill took {:?} over the last {WINDOW} fills, {slowdown:.2} times the {:?} \
         of the first {WINDOW}; at most {MAX_SLOWDOWN} is allowed",
        last.median,
        first.median
    );
}
