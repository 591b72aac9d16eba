//! Random123's Philox4x32 known-answer vectors on the CPU and on the GPU.

mod common;

use weight_init::philox::philox4x32_r;

/// One line of `tests/data/philox4x32_kat.txt`.
struct Kat {
    rounds: usize,
    counter: [u32; 4],
    key: [u32; 2],
    expected: [u32; 4],
}

fn kat_vectors() -> Vec<Kat> {
    let text = include_str!("data/philox4x32_kat.txt");
    let vectors: Vec<Kat> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 12, "malformed KAT line {line:?}");
            assert_eq!(fields[0], "philox4x32");
            let word = |i: usize| u32::from_str_radix(fields[i], 16).expect("hex word");
            Kat {
                rounds: fields[1].parse().expect("round count"),
                counter: [word(2), word(3), word(4), word(5)],
                key: [word(6), word(7)],
                expected: [word(8), word(9), word(10), word(11)],
            }
        })
        .collect();
    assert_eq!(
        vectors.len(),
        6,
        "the table holds the 7- and 10-round vectors"
    );
    vectors
}

/// The (seed, stream, block) whose stream layout produces `counter` under `key`.
fn layout_of(kat: &Kat) -> (u64, u64, u64) {
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    (
        join(kat.key[0], kat.key[1]),
        join(kat.counter[2], kat.counter[3]),
        join(kat.counter[0], kat.counter[1]),
    )
}

#[test]
fn cpu_philox_matches_every_random123_vector() {
    for kat in kat_vectors() {
        let got = philox4x32_r(kat.rounds, kat.counter, kat.key);
        assert_eq!(
            got, kat.expected,
            "{} rounds, counter {:08x?}",
            kat.rounds, kat.counter
        );
    }
}

#[test]
fn cpu_words_through_the_stream_layout_match_the_10_round_vectors() {
    for kat in kat_vectors().into_iter().filter(|k| k.rounds == 10) {
        let (seed, stream, block) = layout_of(&kat);
        let mut words = [0u32; 4];
        weight_init::cpu::words(seed, stream, block, &mut words).unwrap();
        assert_eq!(words, kat.expected);
    }
}

#[test]
fn gpu_philox_matches_the_10_round_vectors() {
    let Some(mut gpu) = common::gpu("gpu_philox_matches_the_10_round_vectors") else {
        return;
    };
    // Both ways of forming the 64-bit products, where the device has both.
    for multiply in common::multiplies(&gpu) {
        gpu.set_multiply(multiply).expect("an available multiply");
        for kat in kat_vectors().into_iter().filter(|k| k.rounds == 10) {
            let (seed, stream, block) = layout_of(&kat);
            let mut words = [0u32; 4];
            gpu.words(seed, stream, block, &mut words)
                .expect("gpu words");
            assert_eq!(
                words, kat.expected,
                "GPU ({multiply:?} multiply), counter {:08x?}",
                kat.counter
            );
        }
    }
}

#[test]
fn block_index_carries_into_the_high_word_on_the_gpu() {
    let Some(gpu) = common::gpu("block_index_carries_into_the_high_word_on_the_gpu") else {
        return;
    };
    // Blocks 2^32 - 2 .. 2^32 + 2 cross the 32-bit boundary inside one dispatch.
    let first = (1u64 << 32) - 2;
    let mut on_gpu = vec![0u32; 16];
    let mut on_cpu = vec![0u32; 16];
    gpu.words(9, 3, first, &mut on_gpu).expect("gpu words");
    weight_init::cpu::words(9, 3, first, &mut on_cpu).unwrap();
    assert_eq!(on_gpu, on_cpu);
}
