//! Benchmarks of the GPU fill, group `fill/gpu/f32`: the WGSL `fill` kernel writing `f32`
//! weights, timed on the host's wall clock.
//!
//! - `<scheme>/with_readback`: [`GpuContext::fill_range`], the library call `Engine::Gpu`
//!   makes. The timed region covers everything that call does: per-call buffer creation, the
//!   dispatch, waiting for the device, the copy to a staging buffer, mapping it and copying
//!   into the host `Vec`.
//! - `<scheme>/dispatch_wait`: [`GpuContext::fill_buffer`] into a storage buffer on the
//!   device, created before timing: parameter upload, dispatch and waiting for the device,
//!   no readback (what a caller who keeps the weights on the GPU pays).
//!
//! Group `multiply/gpu/f32`, `normal/<variant>`: the `dispatch_wait` fill with each way of
//! forming Philox's 64-bit products the adapter can run (`Emulated` always, `Int64` where it
//! has `SHADER_INT64`), to measure what the 64-bit multiply gains. Group `clear/gpu`: the
//! device's own `clear_buffer` over the same bytes, submitted and waited for the same way: the
//! write bandwidth the fill is compared against.
//!
//! The context, pipelines, buffers and output `Vec` are created before timing starts. Sizes
//! are 2^16 and 2^22 elements; with `WEIGHT_INIT_BENCH_SMALL` set only 2^16 runs, briefly
//! (see `benches/README.md`). Without any compute-capable adapter the bench prints one line
//! to stderr and measures nothing. `weight-init bench` reports the same device-only time
//! from GPU timestamp queries where the adapter has them.

mod common;

use std::hint::black_box;

use common::{SCHEMES, config, plan, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weight_init::dtype::Dtype;
use weight_init::gpu::{AdapterPreference, GpuContext, Multiply};

fn bench_gpu_fill(c: &mut Criterion) {
    let mut ctx = match GpuContext::new(AdapterPreference::Any) {
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

            let buffer = device_buffer(&ctx, elems * size_of::<f32>());
            let fill = || ctx.fill_buffer(&plan, Dtype::F32, 0, plan.len_elems, &buffer, 0);
            if let Err(e) = fill() {
                eprintln!("gpu_fill: {scheme}/dispatch_wait at {elems} elements skipped: {e}");
                continue;
            }
            group.bench_function(
                BenchmarkId::new(format!("{scheme}/dispatch_wait"), elems),
                |b| {
                    b.iter(|| {
                        fill().expect("the same fill succeeded just before timing started");
                    });
                },
            );
        }
    }
    group.finish();

    let best = ctx.multiply();
    let mut variants = vec![Multiply::Emulated];
    if Multiply::best_for(ctx.device().features()) == Multiply::Int64 {
        variants.push(Multiply::Int64);
    }
    let mut group = c.benchmark_group("multiply/gpu/f32");
    if ctx.is_software() {
        group.sample_size(10);
    }
    for &elems in sizes() {
        group.throughput(Throughput::Elements(elems as u64));
        let plan = plan("normal", elems);
        let buffer = device_buffer(&ctx, elems * size_of::<f32>());
        for &multiply in &variants {
            ctx.set_multiply(multiply)
                .expect("a variant the device supports builds");
            let fill = || ctx.fill_buffer(&plan, Dtype::F32, 0, plan.len_elems, &buffer, 0);
            if let Err(e) = fill() {
                eprintln!("gpu_fill: {multiply:?} at {elems} elements skipped: {e}");
                continue;
            }
            group.bench_function(
                BenchmarkId::new(format!("normal/{multiply:?}"), elems),
                |b| b.iter(|| fill().expect("the same fill succeeded just before timing")),
            );
        }
    }
    group.finish();
    ctx.set_multiply(best)
        .expect("the device's best multiply builds");

    let mut group = c.benchmark_group("clear/gpu");
    if ctx.is_software() {
        group.sample_size(10);
    }
    for &elems in sizes() {
        let bytes = elems * size_of::<f32>();
        group.throughput(Throughput::Bytes(bytes as u64));
        let buffer = device_buffer(&ctx, bytes);
        group.bench_function(BenchmarkId::new("clear_buffer", elems), |b| {
            b.iter(|| {
                let mut encoder = ctx.device().create_command_encoder(&Default::default());
                encoder.clear_buffer(&buffer, 0, None);
                ctx.queue().submit([encoder.finish()]);
                ctx.device()
                    .poll(wgpu::PollType::wait_indefinitely())
                    .expect("the device answers");
            });
        });
    }
    group.finish();
}

/// A storage buffer of `bytes` on the device, for fills and clears without readback.
fn device_buffer(ctx: &GpuContext, bytes: usize) -> wgpu::Buffer {
    ctx.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("gpu_fill bench"),
        size: bytes as u64,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_gpu_fill
}
criterion_main!(benches);
