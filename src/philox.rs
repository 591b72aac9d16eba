//! Philox4x32-10, the counter-based generator at the bottom of the pipeline.
//!
//! A *block* function maps a 128-bit *counter* and a 64-bit *key* to four 32-bit words through
//! ten *rounds* of multiply-high/xor mixing with a Weyl-sequence key schedule, exactly as
//! published by Salmon et al.[^salmon2011] and shipped in Random123's `philox.h`. Nothing here
//! depends on the GPU; `shaders/fill.wgsl` implements the same function and the known-answer
//! table in `tests/data/philox4x32_kat.txt` checks both.
//!
//! [`PhiloxRng`] wraps the block function as a sequential [`rand_core::Rng`] over one stream,
//! for users who want to plug the generator into the `rand` ecosystem.
//!
//! [^salmon2011]: J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw, 2011, "Parallel random
//!     numbers: as easy as 1, 2, 3", SC '11, <https://doi.org/10.1145/2063384.2063405>.

use core::convert::Infallible;

use rand_core::block::{BlockRng, Generator};
use rand_core::{SeedableRng, TryRng};

/// Multiplier of counter word 0 in each round (Random123 `PHILOX_M4x32_0`).
pub const PHILOX_M0: u32 = 0xD251_1F53;
/// Multiplier of counter word 2 in each round (Random123 `PHILOX_M4x32_1`).
pub const PHILOX_M1: u32 = 0xCD9E_8D57;
/// Key increment for key word 0 between rounds: the golden ratio, 2^32 (sqrt(5) - 1) / 2
/// (Random123 `PHILOX_W32_0`).
pub const PHILOX_W0: u32 = 0x9E37_79B9;
/// Key increment for key word 1 between rounds: 2^32 (sqrt(3) - 1) (Random123 `PHILOX_W32_1`).
pub const PHILOX_W1: u32 = 0xBB67_AE85;
/// Rounds of the standard generator. Random123 reports no statistical flaw from 7 rounds on;
/// 10 keeps a safety margin and is the variant everybody ships (cuRAND, JAX, PyTorch).
pub const PHILOX_ROUNDS: usize = 10;

/// A 128-bit Philox counter as four 32-bit words, word 0 least significant.
pub type Counter = [u32; 4];
/// A 64-bit Philox key as two 32-bit words.
pub type Key = [u32; 2];
/// One block of output: four 32-bit words.
pub type Block = [u32; 4];

/// Returns the high and low 32-bit halves of the 64-bit product `a * b`.
#[inline(always)]
pub(crate) fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let product = u64::from(a) * u64::from(b);
    ((product >> 32) as u32, product as u32)
}

/// One Philox S-box round on a counter.
#[inline(always)]
fn round(ctr: Counter, key: Key) -> Counter {
    let (hi0, lo0) = mulhilo(PHILOX_M0, ctr[0]);
    let (hi1, lo1) = mulhilo(PHILOX_M1, ctr[2]);
    [hi1 ^ ctr[1] ^ key[0], lo1, hi0 ^ ctr[3] ^ key[1], lo0]
}

/// Philox4x32 with a chosen number of rounds: `rounds` S-box rounds, the key advanced by
/// (`PHILOX_W0`, `PHILOX_W1`) between consecutive rounds.
///
/// Only the 10-round variant ([`philox4x32`]) is used for weights; other round counts exist so
/// that Random123's 7-round known answers can be checked too.
#[inline(always)]
pub fn philox4x32_r(rounds: usize, counter: Counter, key: Key) -> Block {
    let mut ctr = counter;
    let mut key = key;
    for r in 0..rounds {
        if r > 0 {
            key = [
                key[0].wrapping_add(PHILOX_W0),
                key[1].wrapping_add(PHILOX_W1),
            ];
        }
        ctr = round(ctr, key);
    }
    ctr
}

/// Philox4x32-10: the block function of the project's generator.
///
/// # Examples
///
/// Random123's third known answer (counter and key from the digits of pi):
///
/// ```
/// use weight_init::philox::philox4x32;
///
/// let block = philox4x32(
///     [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
///     [0xa409_3822, 0x299f_31d0],
/// );
/// assert_eq!(block, [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]);
/// ```
#[inline(always)]
pub fn philox4x32(counter: Counter, key: Key) -> Block {
    philox4x32_r(PHILOX_ROUNDS, counter, key)
}

/// Philox4x32-10 on `L` counters at once, word-major: `counters[w][l]` is word `w` of lane
/// `l`'s counter, and so is the result. Each round is a loop over the lanes, which the compiler
/// turns into SIMD multiplies; the values are those of [`philox4x32`] on each lane.
///
/// `VECTOR_MUL32` chooses how the low halves of the products are formed, for speed only:
/// `true` takes them from wrapping 32-bit products in a loop of their own, which instruction
/// sets with a 32-bit vector multiply (SSE4.1 `pmulld` and up) do in one instruction instead
/// of shuffling them out of the 64-bit products; `false` keeps the 64-bit products, cheaper
/// where that multiply must be emulated (SSE2). Both give the same words.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the indexed lane loop is the form that vectorizes
pub fn philox4x32_lanes<const L: usize, const VECTOR_MUL32: bool>(
    counters: [[u32; L]; 4],
    key: Key,
) -> [[u32; L]; 4] {
    let mut c = counters;
    let mut k = key;
    for r in 0..PHILOX_ROUNDS {
        if r > 0 {
            k = [k[0].wrapping_add(PHILOX_W0), k[1].wrapping_add(PHILOX_W1)];
        }
        let mut next = [[0u32; L]; 4];
        if VECTOR_MUL32 {
            for l in 0..L {
                let hi0 = ((u64::from(PHILOX_M0) * u64::from(c[0][l])) >> 32) as u32;
                let hi1 = ((u64::from(PHILOX_M1) * u64::from(c[2][l])) >> 32) as u32;
                next[0][l] = hi1 ^ c[1][l] ^ k[0];
                next[2][l] = hi0 ^ c[3][l] ^ k[1];
            }
            for l in 0..L {
                next[1][l] = PHILOX_M1.wrapping_mul(c[2][l]);
                next[3][l] = PHILOX_M0.wrapping_mul(c[0][l]);
            }
        } else {
            for l in 0..L {
                let (hi0, lo0) = mulhilo(PHILOX_M0, c[0][l]);
                let (hi1, lo1) = mulhilo(PHILOX_M1, c[2][l]);
                next[0][l] = hi1 ^ c[1][l] ^ k[0];
                next[1][l] = lo1;
                next[2][l] = hi0 ^ c[3][l] ^ k[1];
                next[3][l] = lo0;
            }
        }
        c = next;
    }
    c
}

/// The generator core behind [`PhiloxRng`]: a key, a stream and the next block index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhiloxCore {
    key: Key,
    stream: u64,
    next_block: u64,
}

impl Generator for PhiloxCore {
    type Output = [u32; 4];

    fn generate(&mut self, output: &mut [u32; 4]) {
        *output = philox4x32(
            crate::stream::counter(self.next_block, self.stream),
            self.key,
        );
        self.next_block = self.next_block.wrapping_add(1);
    }
}

/// Philox4x32-10 as a sequential `rand` generator over one stream.
///
/// Word `j` of the output sequence is word `j % 4` of block `j / 4` in the stream layout of
/// [`crate::stream`]: the first `4 n` words are exactly the raw words that `weight-init bits`
/// prints for blocks `0..n`. The sequence wraps after 2^64 blocks.
///
/// # Examples
///
/// ```
/// use rand_core::{Rng, SeedableRng};
/// use weight_init::philox::PhiloxRng;
///
/// let mut rng = PhiloxRng::new(42, 7);
/// let first = rng.next_u32();
/// assert_eq!(first, PhiloxRng::seed_from_u64(42).with_stream(7).next_u32());
/// ```
#[derive(Debug, Clone)]
pub struct PhiloxRng(BlockRng<PhiloxCore>);

impl PhiloxRng {
    /// A generator for `seed` on `stream`, positioned at block 0.
    pub fn new(seed: u64, stream: u64) -> Self {
        Self::at_block(seed, stream, 0)
    }

    /// A generator for `seed` on `stream`, positioned at the start of block `block`.
    pub fn at_block(seed: u64, stream: u64, block: u64) -> Self {
        let core = PhiloxCore {
            key: crate::stream::key(seed),
            stream,
            next_block: block,
        };
        Self(BlockRng::new(core))
    }

    /// The same key on another stream, positioned at block 0.
    #[must_use]
    pub fn with_stream(self, stream: u64) -> Self {
        Self(BlockRng::new(PhiloxCore {
            key: self.0.core.key,
            stream,
            next_block: 0,
        }))
    }
}

impl TryRng for PhiloxRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_word())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64_from_u32())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

impl SeedableRng for PhiloxRng {
    /// The 64-bit seed, little-endian; the stream is 0.
    type Seed = [u8; 8];

    fn from_seed(seed: [u8; 8]) -> Self {
        Self::new(u64::from_le_bytes(seed), 0)
    }

    /// Uses `state` itself as the seed (no scrambling), so that `seed_from_u64(s)` is the
    /// generator the CLI's `--seed s` uses.
    fn seed_from_u64(state: u64) -> Self {
        Self::new(state, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulhilo_splits_the_full_product() {
        assert_eq!(
            mulhilo(0xFFFF_FFFF, 0xFFFF_FFFF),
            (0xFFFF_FFFE, 0x0000_0001)
        );
        assert_eq!(mulhilo(PHILOX_M0, 0), (0, 0));
        assert_eq!(mulhilo(0x1_0000, 0x1_0000), (1, 0));
    }

    #[test]
    fn one_round_matches_the_definition_on_all_ones() {
        // By hand: M0 * 0xFFFFFFFF = (M0 - 1) * 2^32 + (2^32 - M0), likewise for M1.
        let out = round([u32::MAX; 4], [u32::MAX; 2]);
        let (hi0, lo0) = (PHILOX_M0 - 1, PHILOX_M0.wrapping_neg());
        let (hi1, lo1) = (PHILOX_M1 - 1, PHILOX_M1.wrapping_neg());
        assert_eq!(
            out,
            [
                hi1 ^ u32::MAX ^ u32::MAX,
                lo1,
                hi0 ^ u32::MAX ^ u32::MAX,
                lo0
            ]
        );
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn lanes_compute_the_scalar_blocks() {
        let key = [0xDEAD_BEEF, 0x0123_4567];
        let mut counters = [[0u32; 8]; 4];
        for l in 0..8 {
            counters[0][l] = (u32::MAX - 3).wrapping_add(l as u32);
            counters[1][l] = l as u32 * 7;
            counters[2][l] = 0x1319_8a2e;
            counters[3][l] = !(l as u32);
        }
        let split = philox4x32_lanes::<8, true>(counters, key);
        let widened = philox4x32_lanes::<8, false>(counters, key);
        for l in 0..8 {
            let scalar = philox4x32([0, 1, 2, 3].map(|w| counters[w][l]), key);
            assert_eq!([0, 1, 2, 3].map(|w| split[w][l]), scalar, "lane {l}");
            assert_eq!([0, 1, 2, 3].map(|w| widened[w][l]), scalar, "lane {l}");
        }
    }

    #[test]
    fn rng_words_follow_the_block_layout() {
        let mut rng = PhiloxRng::new(5, 9);
        let words: Vec<u32> = (0..12)
            .map(|_| rand_core::Rng::next_u32(&mut rng))
            .collect();
        for b in 0..3u64 {
            let block = philox4x32(crate::stream::counter(b, 9), crate::stream::key(5));
            assert_eq!(&words[4 * b as usize..4 * b as usize + 4], &block);
        }
    }

    #[test]
    fn rng_can_start_at_any_block() {
        let mut from_start = PhiloxRng::new(3, 4);
        let skipped: Vec<u32> = (0..40)
            .map(|_| rand_core::Rng::next_u32(&mut from_start))
            .collect();
        let mut at_block = PhiloxRng::at_block(3, 4, 6);
        assert_eq!(rand_core::Rng::next_u32(&mut at_block), skipped[24]);
    }
}
