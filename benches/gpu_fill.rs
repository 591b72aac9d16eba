//! Benchmarks of the GPU fill, group `fill/gpu/f32`: the WGSL `fill` kernel writing `f32`
//! weights, timed on the host's wall clock.
//!
//! - `<scheme>/with_readback`: [`GpuContext::fill_range`], the library call `Engine::Gpu`
//!   makes. The timed region covers everything that call does: per-call buffer creation, the
//!   dispatch, waiting for the device, the copy to a staging buffer, mapping it and copying
//!   into the host `Vec`.
//!
//! TODO: time the kernel alone (dispatch and wait, or timestamp queries) once the library
//! can fill a caller's buffer without reading back.
//!
//! The context, pipelines and output `Vec` are created before timing starts. Sizes are 2^16
//! and 2^22 elements; with `WEIGHT_INIT_BENCH_SMALL` set only 2^16 runs, briefly (see
//! `benches/README.md`). Without any compute-capable adapter the bench prints one line to
//! stderr and measures nothing.

mod common;

use std::hint::black_box;

use common::{SCHEMES, config, plan, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weight_init::gpu::{AdapterPreference, GpuContext};

fn bench_gpu_fill(c: &mut Criterion) {
    let ctx = match GpuContext::new(AdapterPreference::Any) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("gpu_fill: skipped, no usable GPU adapter: {e}");
            return;
        }
    };
    let info = ctx.adapter_info().clone();
    eprintln!(
        "gpu_fill: adapter {} ({:?}, {:?}), driver {} {}",
        info.name, info.backend, info.device_type, info.driver, info.driver_info
    );

    let mut group = c.benchmark_group("fill/gpu/f32");
    if ctx.is_software() {
        // A software rasterizer takes tens of milliseconds per large fill; Criterion's 100
        // samples would then run for minutes per benchmark.
        group.sample_size(10);
    }
    for &elems in sizes() {
        group.throughput(Throughput::Elements(elems as u64));
        let mut out = vec![0.0f32; elems];
        for scheme in SCHEMES {
            let plan = plan(scheme, elems);
            // One untimed fill pays any lazy driver work (first allocations, shader
            // compilation) up front.
            if let Err(e) = ctx.fill_range(&plan, 0, &mut out) {
                eprintln!("gpu_fill: {scheme} at {elems} elements skipped: {e}");
                continue;
            }

            group.bench_function(
                BenchmarkId::new(format!("{scheme}/with_readback"), elems),
                |b| {
                    b.iter(|| {
                        ctx.fill_range(black_box(&plan), 0, &mut out)
                            .expect("the same fill succeeded just before timing started");
                        black_box(&out);
                    });
                },
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_gpu_fill
}
criterion_main!(benches);
