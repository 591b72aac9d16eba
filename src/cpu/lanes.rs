//! The CPU hot loop: groups of [`LANES`] Philox blocks computed together so that the compiler
//! turns each step into SIMD instructions, compiled for several instruction sets and chosen at
//! run time.
//!
//! Every instruction set runs the same Rust code for the values (`fill_groups_generic`): the same
//! f32 additions, multiplications, divisions and square roots in the same order, each rounded
//! as IEEE 754 requires whatever the vector width (no fused multiply-add: Rust never contracts
//! `a * b + c`). Only the final transpose into element order is written per instruction set,
//! and it moves bits without touching them. So every [`Simd`] level gives the same bits,
//! which the tests check for each level the machine has.

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

/// Writes the values of blocks `first_block .. first_block + out.len() / 4` to `out`, a
/// whole number of groups of [`LANES`] blocks, with the code compiled for `simd`. Block
/// indices wrap modulo 2^64.
///
/// # Panics
///
/// If `out.len()` is not a multiple of `4 LANES`, or if `simd` is not in
/// [`Simd::available`].
#[inline]
pub fn fill_groups(
    simd: Simd,
    affine: &Affine,
    key: Key,
    stream: u64,
    first_block: u64,
    out: &mut [f32],
) {
    assert_eq!(out.len() % (4 * LANES), 0, "whole groups of blocks");
    match simd {
        #[cfg(not(target_arch = "x86_64"))]
        Simd::Portable => {
            fill_groups_generic::<false>(affine, key, stream, first_block, out, interleave_generic)
        }
        #[cfg(target_arch = "x86_64")]
        Simd::Portable => fill_groups_sse2(affine, key, stream, first_block, out),
        #[cfg(target_arch = "x86_64")]
        Simd::Avx2 => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "AVX2 is not available"
            );
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { fill_groups_avx2(affine, key, stream, first_block, out) }
        }
        #[cfg(target_arch = "x86_64")]
        Simd::Avx512 => {
            let avx512 = std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl");
            assert!(avx512, "AVX-512 is not available");
            // SAFETY: the CPU supports the AVX-512 subsets, checked just above.
            unsafe { fill_groups_avx512(affine, key, stream, first_block, out) }
        }
        #[cfg(not(target_arch = "x86_64"))]
        _ => panic!("{} is not available on this architecture", simd.name()),
    }
}

#[cfg(target_arch = "x86_64")]
fn fill_groups_sse2(affine: &Affine, key: Key, stream: u64, first_block: u64, out: &mut [f32]) {
    fill_groups_generic::<false>(affine, key, stream, first_block, out, x86::interleave_sse2);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn fill_groups_avx2(affine: &Affine, key: Key, stream: u64, first_block: u64, out: &mut [f32]) {
    fill_groups_generic::<true>(affine, key, stream, first_block, out, |values, group| {
        x86::interleave_avx2(values, group)
    });
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl")]
fn fill_groups_avx512(affine: &Affine, key: Key, stream: u64, first_block: u64, out: &mut [f32]) {
    fill_groups_generic::<true>(affine, key, stream, first_block, out, |values, group| {
        x86::interleave_avx512(values, group)
    });
}

/// The kernel itself, inlined into each instruction-set wrapper so that the whole loop over
/// groups is compiled for that instruction set; `VECTOR_MUL32` as for [`philox4x32_lanes`],
/// `interleave` as for [`interleave_generic`]. The match on the kind sits outside the loop, so
/// that each kind's constants are loaded once per call rather than once per group.
#[inline(always)]
fn fill_groups_generic<const VECTOR_MUL32: bool>(
    affine: &Affine,
    key: Key,
    stream: u64,
    first_block: u64,
    out: &mut [f32],
    interleave: impl Fn(&[[f32; LANES]; 4], &mut [f32]),
) {
    let (offset, scale) = (affine.offset, affine.scale);
    match affine.kind {
        Kind::Normal => {
            each_group::<VECTOR_MUL32>(key, stream, first_block, out, &interleave, |words| {
                let mut values = [[0f32; LANES]; 4];
                for pair in 0..2 {
                    for l in 0..LANES {
                        let (z0, z1) = box_muller(words[2 * pair][l], words[2 * pair + 1][l]);
                        values[2 * pair][l] = offset + scale * z0;
                        values[2 * pair + 1][l] = offset + scale * z1;
                    }
                }
                values
            })
        }
        Kind::Uniform => {
            each_group::<VECTOR_MUL32>(key, stream, first_block, out, &interleave, |words| {
                words.map(|word| word.map(|w| offset + scale * uniform_signed(w)))
            })
        }
        Kind::Constant => out.fill(offset),
        Kind::TruncatedNormal => {
            each_group::<VECTOR_MUL32>(key, stream, first_block, out, &interleave, |words| {
                words.map(|word| word.map(|w| truncated_normal(w, affine)))
            })
        }
    }
}

/// Each group of `out` in turn: its words, `values` of them, interleaved into place.
#[inline(always)]
fn each_group<const VECTOR_MUL32: bool>(
    key: Key,
    stream: u64,
    first_block: u64,
    out: &mut [f32],
    interleave: &impl Fn(&[[f32; LANES]; 4], &mut [f32]),
    values: impl Fn(&[[u32; LANES]; 4]) -> [[f32; LANES]; 4],
) {
    for (g, group) in out.chunks_exact_mut(4 * LANES).enumerate() {
        let first = first_block.wrapping_add((g * LANES) as u64);
        let words = group_words::<VECTOR_MUL32>(key, stream, first);
        interleave(&values(&words), group);
    }
}

/// The Philox words of blocks `first_block .. first_block + LANES`, word-major:
/// `words[j][l]` is word `j` of block `first_block + l`.
#[inline(always)]
fn group_words<const VECTOR_MUL32: bool>(
    key: Key,
    stream: u64,
    first_block: u64,
) -> [[u32; LANES]; 4] {
    let mut counters = [[0u32; LANES]; 4];
    for l in 0..LANES {
        let block = first_block.wrapping_add(l as u64);
        counters[0][l] = block as u32;
        counters[1][l] = (block >> 32) as u32;
        counters[2][l] = stream as u32;
        counters[3][l] = (stream >> 32) as u32;
    }
    philox4x32_lanes::<LANES, VECTOR_MUL32>(counters, key)
}

/// Word-major values to element order: `group[4 l + j] = values[j][l]`, a 4 x `LANES`
/// transpose. The x86 versions in [`x86`] do the same with shuffles; moves never change a
/// value's bits, so every version writes the same bytes.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline(always)]
fn interleave_generic(values: &[[f32; LANES]; 4], group: &mut [f32]) {
    for (l, block) in group.chunks_exact_mut(4).enumerate() {
        for j in 0..4 {
            block[j] = values[j][l];
        }
    }
}

/// The transpose of [`interleave_generic`] in register shuffles. Left to itself the compiler
/// writes it as one scalar store (or a scatter) per element, which cost more than a third of
/// the kernel's instructions.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;

    /// SSE2: a 4 x 4 transpose per four blocks.
    #[inline(always)]
    pub(super) fn interleave_sse2(values: &[[f32; LANES]; 4], group: &mut [f32]) {
        assert_eq!(group.len(), 4 * LANES, "one group of blocks");
        for q in 0..LANES / 4 {
            // SAFETY: SSE2 is part of x86-64; every load reads 4 floats inside `values[j]`
            // (4 q + 4 <= LANES) and every store writes 4 floats inside `group` (16 q + 16 <=
            // 4 LANES).
            unsafe {
                let r = values.map(|word| _mm_loadu_ps(word.as_ptr().add(4 * q)));
                let t0 = _mm_unpacklo_ps(r[0], r[1]);
                let t1 = _mm_unpackhi_ps(r[0], r[1]);
                let t2 = _mm_unpacklo_ps(r[2], r[3]);
                let t3 = _mm_unpackhi_ps(r[2], r[3]);
                let dst = group.as_mut_ptr().add(16 * q);
                _mm_storeu_ps(dst, _mm_movelh_ps(t0, t2));
                _mm_storeu_ps(dst.add(4), _mm_movehl_ps(t2, t0));
                _mm_storeu_ps(dst.add(8), _mm_movelh_ps(t1, t3));
                _mm_storeu_ps(dst.add(12), _mm_movehl_ps(t3, t1));
            }
        }
    }

    /// AVX2: per eight blocks, pairs of words interleaved within 128-bit lanes, then the
    /// lanes exchanged.
    #[target_feature(enable = "avx2")]
    #[inline]
    pub(super) fn interleave_avx2(values: &[[f32; LANES]; 4], group: &mut [f32]) {
        assert_eq!(group.len(), 4 * LANES, "one group of blocks");
        for h in 0..LANES / 8 {
            // SAFETY: every load reads 8 floats inside `values[j]` (8 h + 8 <= LANES) and
            // every store writes 8 floats inside `group` (32 h + 32 <= 4 LANES).
            unsafe {
                let r = values.map(|word| _mm256_loadu_ps(word.as_ptr().add(8 * h)));
                // Within each 128-bit lane k: t0 = (r0, r1) of blocks 4k, 4k + 1, ...
                let t0 = _mm256_unpacklo_ps(r[0], r[1]);
                let t1 = _mm256_unpackhi_ps(r[0], r[1]);
                let t2 = _mm256_unpacklo_ps(r[2], r[3]);
                let t3 = _mm256_unpackhi_ps(r[2], r[3]);
                // u_b holds block b in lane 0 and block b + 4 in lane 1.
                let pd = _mm256_castps_pd;
                let u0 = _mm256_castpd_ps(_mm256_unpacklo_pd(pd(t0), pd(t2)));
                let u1 = _mm256_castpd_ps(_mm256_unpackhi_pd(pd(t0), pd(t2)));
                let u2 = _mm256_castpd_ps(_mm256_unpacklo_pd(pd(t1), pd(t3)));
                let u3 = _mm256_castpd_ps(_mm256_unpackhi_pd(pd(t1), pd(t3)));
                let dst = group.as_mut_ptr().add(32 * h);
                _mm256_storeu_ps(dst, _mm256_permute2f128_ps::<0x20>(u0, u1));
                _mm256_storeu_ps(dst.add(8), _mm256_permute2f128_ps::<0x20>(u2, u3));
                _mm256_storeu_ps(dst.add(16), _mm256_permute2f128_ps::<0x31>(u0, u1));
                _mm256_storeu_ps(dst.add(24), _mm256_permute2f128_ps::<0x31>(u2, u3));
            }
        }
    }

    /// AVX-512: words 0 and 1 (and 2 and 3) interleaved by two-source permutes, then those
    /// pairs interleaved as 64-bit units.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) fn interleave_avx512(values: &[[f32; LANES]; 4], group: &mut [f32]) {
        assert_eq!(group.len(), 4 * LANES, "one group of blocks");
        const _: () = assert!(LANES == 16, "one 512-bit register per word");
        // SAFETY: each load reads the 16 floats of `values[j]`, each store writes 16 floats
        // inside `group` (64 floats).
        unsafe {
            let r = values.map(|word| _mm512_loadu_ps(word.as_ptr()));
            // Element i of the result takes lane idx[i] & 15 of a (bit 4 clear) or b.
            let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            let high =
                _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            let pairs01_low = _mm512_castps_pd(_mm512_permutex2var_ps(r[0], low, r[1]));
            let pairs01_high = _mm512_castps_pd(_mm512_permutex2var_ps(r[0], high, r[1]));
            let pairs23_low = _mm512_castps_pd(_mm512_permutex2var_ps(r[2], low, r[3]));
            let pairs23_high = _mm512_castps_pd(_mm512_permutex2var_ps(r[2], high, r[3]));
            // The same on 64-bit pairs: block b = (pair01 b, pair23 b).
            let first = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
            let second = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
            let dst = group.as_mut_ptr();
            let blocks = [
                _mm512_permutex2var_pd(pairs01_low, first, pairs23_low),
                _mm512_permutex2var_pd(pairs01_low, second, pairs23_low),
                _mm512_permutex2var_pd(pairs01_high, first, pairs23_high),
                _mm512_permutex2var_pd(pairs01_high, second, pairs23_high),
            ];
            for (k, four_blocks) in blocks.into_iter().enumerate() {
                _mm512_storeu_ps(dst.add(16 * k), _mm512_castpd_ps(four_blocks));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::philox::philox4x32;
    use crate::stream::counter;
    use crate::transform::Distribution;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn every_x86_transpose_matches_the_generic_one() {
        // Distinct values, so that any misplaced element shows.
        let mut values = [[0f32; LANES]; 4];
        for (j, word) in values.iter_mut().enumerate() {
            for (l, value) in word.iter_mut().enumerate() {
                *value = (100 * j + l) as f32;
            }
        }
        let mut expected = vec![0f32; 4 * LANES];
        interleave_generic(&values, &mut expected);
        assert_eq!(
            expected[4 * 3 + 2],
            203.0,
            "element 2 of block 3 is word 2 of lane 3"
        );

        let mut out = vec![0f32; 4 * LANES];
        x86::interleave_sse2(&values, &mut out);
        assert_eq!(out, expected, "sse2");
        if Simd::available().contains(&Simd::Avx2) {
            out.fill(0.0);
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { x86::interleave_avx2(&values, &mut out) };
            assert_eq!(out, expected, "avx2");
        }
        if Simd::available().contains(&Simd::Avx512) {
            out.fill(0.0);
            // SAFETY: the CPU supports AVX-512 F, checked just above.
            unsafe { x86::interleave_avx512(&values, &mut out) };
            assert_eq!(out, expected, "avx512");
        }
    }

    #[test]
    fn every_available_level_matches_the_scalar_blocks() {
        let key = [0x1234_5678, 0x9ABC_DEF0];
        let stream = 0x0370_7344_1319_8a2e;
        // Three groups, the second crossing the 2^32 block boundary.
        let first = (1u64 << 32) - LANES as u64 - 5;
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
            let blocks = 3 * LANES as u64;
            let expected: Vec<f32> = (0..blocks)
                .flat_map(|l| affine.block_values(philox4x32(counter(first + l, stream), key)))
                .collect();
            for simd in Simd::available() {
                let mut out = vec![0.0f32; 4 * blocks as usize];
                fill_groups(simd, &affine, key, stream, first, &mut out);
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
