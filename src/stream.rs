//! The stream layout: how a seed, a tensor and an element index select Philox words.
//!
//! This is the contract that makes every value reproducible:
//!
//! - **key** = the 64-bit *seed* split into words, `[seed as u32, (seed >> 32) as u32]`;
//! - **stream** = a 64-bit id per tensor, by default [`stream_id`] of the tensor's name;
//! - **counter** = `[block_lo, block_hi, stream_lo, stream_hi]`, where *block* `b` covers the
//!   four consecutive elements `4b, 4b + 1, 4b + 2, 4b + 3` of the tensor in row-major order;
//! - element `i` is fed by word `i % 4` of block `i / 4` (uniform and constant schemes), or by the
//!   Box–Muller pair `(2 (i % 4 / 2), 2 (i % 4 / 2) + 1)` of that block (normal schemes), see
//!   [`crate::transform`].
//!
//! Element indices are 64-bit, so a tensor may hold up to 2^64 - 1 elements; block indices
//! never overflow. Nothing in the layout depends on where a fill starts or how it is chunked:
//! `fill(t)[a..b] == fill_range(t, a..b)` for every range.
//!
//! Changing anything in this file changes every generated value: that is a breaking change and
//! goes in the changelog.

/// FNV-1a 64-bit offset basis (Fowler, Noll and Vo; IETF draft-eastlake-fnv).
pub const FNV1A64_OFFSET_BASIS: u64 = 0xCBF2_9CE4_8422_2325;
/// FNV-1a 64-bit prime, 2^40 + 2^8 + 0xB3 (same source).
pub const FNV1A64_PRIME: u64 = 0x0000_0100_0000_01B3;

/// The Philox key for a seed: its low word, then its high word.
#[inline(always)]
pub fn key(seed: u64) -> crate::philox::Key {
    [seed as u32, (seed >> 32) as u32]
}

/// The Philox counter of block `block` on stream `stream`.
#[inline(always)]
pub fn counter(block: u64, stream: u64) -> crate::philox::Counter {
    [
        block as u32,
        (block >> 32) as u32,
        stream as u32,
        (stream >> 32) as u32,
    ]
}

/// Checks that a buffer of `len_words` words holds whole blocks of four.
///
/// # Errors
///
/// [`crate::Error::InvalidArgument`] naming the length.
pub fn check_whole_blocks(len_words: usize) -> crate::Result<()> {
    if len_words.is_multiple_of(4) {
        Ok(())
    } else {
        Err(crate::Error::InvalidArgument {
            what: "word count",
            detail: format!("{len_words} is not a whole number of 4-word blocks"),
        })
    }
}

/// The stream id of a tensor name: 64-bit FNV-1a over the name's UTF-8 bytes.
///
/// FNV-1a is fixed by its published definition, so the id is the same on every platform and in
/// every Rust release (unlike `std`'s `DefaultHasher`). It is not a cryptographic hash; two
/// distinct names collide with probability about 2^-64, and similar names (`W1`, `W2`) give
/// unrelated Philox outputs because Philox mixes every counter bit into every output word.
///
/// # Examples
///
/// ```
/// // The FNV-1a test vector for "a".
/// assert_eq!(weight_init::stream::stream_id("a"), 0xaf63_dc4c_8601_ec8c);
/// ```
pub fn stream_id(name: &str) -> u64 {
    name.bytes().fold(FNV1A64_OFFSET_BASIS, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV1A64_PRIME)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_id_matches_published_fnv1a_vectors() {
        // Vectors from the FNV reference test suite (draft-eastlake-fnv, section 8).
        assert_eq!(stream_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stream_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(stream_id("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn counter_puts_block_before_stream() {
        let c = counter(0x85a3_08d3_243f_6a88, 0x0370_7344_1319_8a2e);
        assert_eq!(c, [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344]);
        assert_eq!(key(0x299f_31d0_a409_3822), [0xa409_3822, 0x299f_31d0]);
    }
}
