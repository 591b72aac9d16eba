//! Benchmarks of the Philox4x32-10 block function on the CPU, group `philox4x32/cpu/u32`.
//!
//! - `block_fn/serial`: [`weight_init::philox::philox4x32`] over consecutive counters of one
//!   stream on the calling thread. This is the generator's raw cost, with no float transform
//!   and no memory traffic, so it bounds what any CPU fill can reach per core.
//! - `words/parallel`: [`weight_init::cpu::words`] filling a `u32` buffer on rayon's pool, as
//!   `weight-init bits` does.
//!
//! Throughput is counted in 32-bit words (4 per block) and their bytes. Sizes are 2^16 and
//! 2^22 words; with `WEIGHT_INIT_BENCH_SMALL` set only 2^16 runs, briefly (see
//! `benches/README.md`).

mod common;

use std::hint::black_box;

use common::{SEED, config, sizes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use weight_init::philox::philox4x32;
use weight_init::stream;

/// Arbitrary but fixed stream id.
const STREAM: u64 = 7;

fn word_throughput(words: usize) -> Throughput {
    Throughput::ElementsAndBytes {
        elements: words as u64,
        bytes: (words * size_of::<u32>()) as u64,
    }
}

fn bench_philox(c: &mut Criterion) {
    let mut group = c.benchmark_group("philox4x32/cpu/u32");
    for &words in sizes() {
        group.throughput(word_throughput(words));
        let blocks = (words / 4) as u64;

        group.bench_with_input(
            BenchmarkId::new("block_fn/serial", words),
            &blocks,
            |b, &blocks| {
                b.iter(|| {
                    // black_box on the key and stream keeps the compiler from specializing
                    // the rounds on constants; folding the outputs with xor keeps every block
                    // live without timing a memory store per block.
                    let key = black_box(stream::key(SEED));
                    let stream_id = black_box(STREAM);
                    let mut acc = [0u32; 4];
                    for block in 0..blocks {
                        let out = philox4x32(stream::counter(block, stream_id), key);
                        for (a, w) in acc.iter_mut().zip(out) {
                            *a ^= w;
                        }
                    }
                    black_box(acc)
                });
            },
        );

        // The buffer is allocated once: the allocation and the first-touch page faults are
        // not what this measures.
        let mut out = vec![0u32; words];
        group.bench_function(BenchmarkId::new("words/parallel", words), |b| {
            b.iter(|| {
                weight_init::cpu::words(black_box(SEED), black_box(STREAM), 0, &mut out)
                    .expect("the buffer holds whole blocks");
                black_box(&out);
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_philox
}
criterion_main!(benches);
