//! Benchmarks of the CPU fill, group `fill/cpu/f32`: Philox words turned into `f32` weights and
//! written to a host buffer.
//!
//! - `<scheme>/parallel`: [`weight_init::cpu::fill_range`] on rayon's global pool (all cores),
//!   the path `Engine::Cpu` takes.
//! - `<scheme>/serial`: [`weight_init::cpu::fill_range_serial`] on the calling thread, for
//!   per-core numbers and the parallel speed-up.
//!
//! Schemes are `normal` (Box–Muller: a log, a square root and a sine/cosine pair per two
//! values) and `he-uniform` (one multiply-add per value), the two kinds of transform the
//! kernel has. Sizes are 2^16 and 2^22 elements; with `WEIGHT_INIT_BENCH_SMALL` set only 2^16
//! runs, briefly (see `benches/README.md`).

mod common;

use std::hint::black_box;

use common::{SCHEMES, config, plan, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn bench_cpu_fill(c: &mut Criterion) {
    let mut group = c.benchmark_group("fill/cpu/f32");
    for &elems in sizes() {
        group.throughput(Throughput::Elements(elems as u64));
        // Allocated once per size: allocation and first-touch page faults would otherwise
        // dominate the small size and are not part of the generator's cost.
        let mut out = vec![0.0f32; elems];
        for scheme in SCHEMES {
            let plan = plan(scheme, elems);

            group.bench_function(BenchmarkId::new(format!("{scheme}/parallel"), elems), |b| {
                b.iter(|| {
                    weight_init::cpu::fill_range(black_box(&plan), 0, &mut out)
                        .expect("the range [0, n) lies inside an n-element tensor");
                    black_box(&out);
                });
            });

            group.bench_function(BenchmarkId::new(format!("{scheme}/serial"), elems), |b| {
                b.iter(|| {
                    weight_init::cpu::fill_range_serial(black_box(&plan), 0, &mut out)
                        .expect("the range [0, n) lies inside an n-element tensor");
                    black_box(&out);
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_cpu_fill
}
criterion_main!(benches);
