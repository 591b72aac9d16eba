//! The CPU hot loop: groups of [`LANES`] Philox blocks computed together so that the compiler
//! turns each step into SIMD instructions, compiled for several instruction sets and chosen at
//! run time.
//!
//! Every instruction set runs the same Rust code (`fill_blocks_generic`): the same f32
//! additions, multiplications, divisions and square roots in the same order, each rounded as
//! IEEE 754 requires whatever the vector width (no fused multiply-add: Rust never contracts
//! `a * b + c`). So every [`Simd`] level gives the same bits, which the tests check for each
//! level the machine has.

// Lane loops index several arrays in step (`counters[w][l]`, `values[j][l]`): that form is
// what the compiler vectorizes, so clippy's iterator suggestion does not apply.
#![allow(clippy::needless_range_loop)]

use std::sync::OnceLock;

use crate::philox::{Key, philox4x32_lanes};
use crate::transform::{Affine, Kind, box_muller, truncated_normal, uniform_signed};

/// Blocks per group: 16 blocks of 32-bit lanes fill two AVX-512 or four AVX2 registers per
/// counter word, enough independent work to hide the latency of the multiplies.
pub const LANES: usize = 16;

/// An instruction set the CPU kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// The baseline of the target (SSE2 on x86-64).
    Portable,
    /// x86-64 AVX2 (256-bit integer and float vectors).
    Avx2,
    /// x86-64 AVX-512 F, BW, DQ and VL.
    Avx512,
}

impl Simd {
    /// The levels this CPU can run, narrowest first.
    pub fn available() -> Vec<Simd> {
        let mut levels = vec![Simd::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                levels.push(Simd::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                levels.push(Simd::Avx512);
            }
        }
        levels
    }

    /// The widest available level, or the one `WEIGHT_INIT_SIMD` (`portable`, `avx2`,
    /// `avx512`) names if the CPU has it; detected once per process.
    pub fn detect() -> Simd {
        static DETECTED: OnceLock<Simd> = OnceLock::new();
        *DETECTED.get_or_init(|| {
            let available = Simd::available();
            let widest = *available.last().expect("Portable is always available");
            let Ok(wanted) = std::env::var("WEIGHT_INIT_SIMD") else {
                return widest;
            };
            let chosen = available
                .iter()
                .copied()
                .find(|s| s.name() == wanted.to_ascii_lowercase());
            if chosen.is_none() {
                let known =
                    ["portable", "avx2", "avx512"].contains(&wanted.to_ascii_lowercase().as_str());
                let why = if known {
                    "is not available on this CPU"
                } else {
                    "is unknown (portable, avx2 or avx512)"
                };
                log::warn!("WEIGHT_INIT_SIMD={wanted:?} {why}; using {}", widest.name());
            }
            chosen.unwrap_or(widest)
        })
    }

    /// `portable`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            Simd::Avx2 => "avx2",
            Simd::Avx512 => "avx512",
        }
    }
}

/// Writes the values of blocks `first_block .. first_block + LANES` to `out` (`4 LANES`
/// elements), with the code compiled for `simd`.
///
/// # Panics
///
/// If `out.len() != 4 * LANES`, or if `simd` is not in [`Simd::available`].
#[inline]
pub fn fill_blocks(
    simd: Simd,
    affine: &Affine,
    key: Key,
    stream: u64,
    first_block: u64,
    out: &mut [f32],
) {
    assert_eq!(out.len(), 4 * LANES, "one group of blocks");
    match simd {
        Simd::Portable => fill_blocks_generic::<false>(affine, key, stream, first_block, out),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "AVX2 is not available"
            );
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { fill_blocks_avx2(affine, key, stream, first_block, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl");
            assert!(avx512, "AVX-512 is not available");
            // SAFETY: the CPU supports the AVX-512 subsets, checked just above.
            unsafe { fill_blocks_avx512(affine, key, stream, first_block, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => panic!("{} is not available on this architecture", simd.name()),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_blocks_avx2(affine: &Affine, key: Key, stream: u64, first_block: u64, out: &mut [f32]) {
    fill_blocks_generic::<true>(affine, key, stream, first_block, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn fill_blocks_avx512(affine: &Affine, key: Key, stream: u64, first_block: u64, out: &mut [f32]) {
    fill_blocks_generic::<true>(affine, key, stream, first_block, out);
}

/// The kernel itself, inlined into each instruction-set wrapper; `VECTOR_MUL32` as for
/// [`philox4x32_lanes`].
#[inline(always)]
fn fill_blocks_generic<const VECTOR_MUL32: bool>(
    affine: &Affine,
    key: Key,
    stream: u64,
    first_block: u64,
    out: &mut [f32],
) {
    // Counters of the group, word-major.
    let mut counters = [[0u32; LANES]; 4];
    for l in 0..LANES {
        let block = first_block.wrapping_add(l as u64);
        counters[0][l] = block as u32;
        counters[1][l] = (block >> 32) as u32;
        counters[2][l] = stream as u32;
        counters[3][l] = (stream >> 32) as u32;
    }
    let words = philox4x32_lanes::<LANES, VECTOR_MUL32>(counters, key);

    // Values word-major (`values[j][l]` is element j of block l), then interleaved into out.
    let mut values = [[0f32; LANES]; 4];
    match affine.kind {
        Kind::Normal => {
            for pair in 0..2 {
                for l in 0..LANES {
                    let (z0, z1) = box_muller(words[2 * pair][l], words[2 * pair + 1][l]);
                    values[2 * pair][l] = affine.offset + affine.scale * z0;
                    values[2 * pair + 1][l] = affine.offset + affine.scale * z1;
                }
            }
        }
        Kind::Uniform => {
            for j in 0..4 {
                for l in 0..LANES {
                    values[j][l] = affine.offset + affine.scale * uniform_signed(words[j][l]);
                }
            }
        }
        Kind::Constant => values = [[affine.offset; LANES]; 4],
        Kind::TruncatedNormal => {
            for j in 0..4 {
                for l in 0..LANES {
                    values[j][l] = truncated_normal(words[j][l], affine);
                }
            }
        }
    }
    for (l, block) in out.chunks_exact_mut(4).enumerate() {
        for j in 0..4 {
            block[j] = values[j][l];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::philox::philox4x32;
    use crate::stream::counter;
    use crate::transform::Distribution;

    #[test]
    fn every_available_level_matches_the_scalar_blocks() {
        let key = [0x1234_5678, 0x9ABC_DEF0];
        let stream = 0x0370_7344_1319_8a2e;
        // A group that crosses the 2^32 block boundary.
        let first = (1u64 << 32) - 5;
        for affine in [
            Distribution::Normal {
                mean: 0.25,
                std: 3.0,
            }
            .affine(),
            Distribution::Uniform {
                low: -1.5,
                high: -0.5,
            }
            .affine(),
            Distribution::Constant { value: 7.0 }.affine(),
            Distribution::TruncatedNormal {
                mean: 1.0,
                std: 2.0,
                low: -0.5,
                high: 12.0,
            }
            .affine_for(crate::dtype::Dtype::BF16),
        ] {
            let expected: Vec<f32> = (0..LANES as u64)
                .flat_map(|l| affine.block_values(philox4x32(counter(first + l, stream), key)))
                .collect();
            for simd in Simd::available() {
                let mut out = vec![0.0f32; 4 * LANES];
                fill_blocks(simd, &affine, key, stream, first, &mut out);
                let same = out
                    .iter()
                    .zip(&expected)
                    .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(
                    same,
                    "{} differs from the scalar blocks for {affine:?}",
                    simd.name()
                );
            }
        }
    }
}
