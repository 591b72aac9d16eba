//! Output element types: f32, and f16 / bf16 rounded from the f32 value as the last step.
//!
//! All arithmetic is in f32. Conversion to a 2-byte type rounds to nearest, ties to even
//! (IEEE 754's default), after saturating the value to the type's largest finite magnitude,
//! so that a value finite in f32 stays finite: 70000.0 becomes f16 65504, never infinity. The
//! CPU converts with the `half` crate; the shader's integer routines give the same bits.
//!
//! Elements are stored little-endian. On the GPU, 2-byte elements are packed two to a 32-bit
//! word, the even element in the low half.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A 2-byte type's largest finite value, and its conversions from f32 and back.
type HalfCodec = (f32, fn(f32) -> u16, fn(u16) -> f32);

/// An output element type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Dtype {
    /// IEEE 754 binary32.
    #[default]
    F32,
    /// IEEE 754 binary16: 5 exponent bits, 10 mantissa bits, largest finite 65504.
    F16,
    /// bfloat16: f32's 8 exponent bits, 7 mantissa bits.
    BF16,
}

impl Dtype {
    /// Bytes per element.
    pub const fn size_bytes(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
        }
    }

    /// The number of elements in `len_bytes` bytes of this type.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `len_bytes` is not a whole number of elements.
    pub fn elems_in(self, len_bytes: usize) -> Result<u64> {
        if len_bytes.is_multiple_of(self.size_bytes()) {
            Ok((len_bytes / self.size_bytes()) as u64)
        } else {
            Err(Error::invalid(
                "output length",
                format!("{len_bytes} bytes is not a whole number of {self} elements"),
            ))
        }
    }

    /// The shader's `dtype` code.
    pub(crate) const fn code(self) -> u32 {
        match self {
            Dtype::F32 => 0,
            Dtype::F16 => 1,
            Dtype::BF16 => 2,
        }
    }

    /// The safetensors name of the type.
    pub fn safetensors(self) -> safetensors::Dtype {
        match self {
            Dtype::F32 => safetensors::Dtype::F32,
            Dtype::F16 => safetensors::Dtype::F16,
            Dtype::BF16 => safetensors::Dtype::BF16,
        }
    }

    /// The smallest value of this type that is `>= x`, as f32; the type's lowest finite
    /// value for `x` below it (where conversion saturates anyway). Monotonic rounding to
    /// nearest then maps every f32 in `[round_up(a), round_down(b)]` into `[a, b]`.
    pub fn round_up(self, x: f32) -> f32 {
        self.round_toward(x, true)
    }

    /// The largest value of this type that is `<= x`, as f32; the type's largest finite
    /// value for `x` above it.
    pub fn round_down(self, x: f32) -> f32 {
        self.round_toward(x, false)
    }

    fn round_toward(self, x: f32, up: bool) -> f32 {
        let (max, to_bits, from_bits): HalfCodec = match self {
            Dtype::F32 => return x,
            Dtype::F16 => (
                half::f16::MAX.to_f32(),
                |v| half::f16::from_f32(v).to_bits(),
                |b| half::f16::from_bits(b).to_f32(),
            ),
            Dtype::BF16 => (
                half::bf16::MAX.to_f32(),
                |v| half::bf16::from_f32(v).to_bits(),
                |b| half::bf16::from_bits(b).to_f32(),
            ),
        };
        let x = x.clamp(-max, max);
        let bits = to_bits(x);
        let nearest = from_bits(bits);
        if (up && nearest >= x) || (!up && nearest <= x) {
            return nearest;
        }
        // One step toward +inf (up) or -inf (down) in sign-magnitude bits; never past the
        // finite range, since `x` was clamped to it.
        let negative = bits & 0x8000 != 0;
        let magnitude = bits & 0x7FFF;
        let stepped = match (up, negative) {
            (true, true) | (false, false) if magnitude == 0 => (bits ^ 0x8000) + 1,
            (true, true) | (false, false) => bits - 1,
            _ => bits + 1,
        };
        from_bits(stepped)
    }

    /// Writes `values` as this type, little-endian, into `out` (`values.len() *
    /// size_bytes()` bytes).
    ///
    /// # Panics
    ///
    /// If `out` has the wrong length.
    pub fn encode(self, values: &[f32], out: &mut [u8]) {
        assert_eq!(
            out.len(),
            values.len() * self.size_bytes(),
            "encode: output length"
        );
        match self {
            Dtype::F32 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(4)) {
                    o.copy_from_slice(&v.to_le_bytes());
                }
            }
            Dtype::F16 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(2)) {
                    o.copy_from_slice(&to_f16(*v).to_le_bytes());
                }
            }
            Dtype::BF16 => {
                for (v, o) in values.iter().zip(out.chunks_exact_mut(2)) {
                    o.copy_from_slice(&to_bf16(*v).to_le_bytes());
                }
            }
        }
    }

    /// Reads little-endian elements of this type back as f32 (exact: every f16 and bf16 value
    /// is an f32).
    pub fn decode(self, bytes: &[u8]) -> Vec<f32> {
        match self {
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
        }
    }
}

/// f32 to f16, saturating to ±65504, then round to nearest even.
pub fn to_f16(v: f32) -> half::f16 {
    half::f16::from_f32(v.clamp(-half::f16::MAX.to_f32(), half::f16::MAX.to_f32()))
}

/// f32 to bf16, saturating to ±bf16::MAX, then round to nearest even.
pub fn to_bf16(v: f32) -> half::bf16 {
    half::bf16::from_f32(v.clamp(-half::bf16::MAX.to_f32(), half::bf16::MAX.to_f32()))
}

impl FromStr for Dtype {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" | "float" => Ok(Dtype::F32),
            "f16" | "float16" | "half" => Ok(Dtype::F16),
            "bf16" | "bfloat16" => Ok(Dtype::BF16),
            _ => Err(Error::invalid(
                "dtype",
                format!("unknown dtype {s:?}; expected f32, f16 or bf16"),
            )),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Dtype::F32 => "f32",
            Dtype::F16 => "f16",
            Dtype::BF16 => "bf16",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversion_saturates_instead_of_overflowing() {
        assert_eq!(to_f16(70_000.0).to_f32(), 65_504.0);
        assert_eq!(to_f16(-1e30).to_f32(), -65_504.0);
        assert!(to_bf16(f32::MAX).to_f32().is_finite());
        assert!(to_bf16(-f32::MAX).to_f32().is_finite());
    }

    #[test]
    fn conversion_rounds_ties_to_even() {
        // 1 + 2^-11 lies halfway between f16 1.0 and 1 + 2^-10: ties go to the even 1.0.
        assert_eq!(to_f16(1.0 + 1.0 / 2048.0).to_f32(), 1.0);
        // 1 + 3 * 2^-11 lies halfway between 1 + 2^-10 (odd) and 1 + 2^-9 (even).
        assert_eq!(to_f16(1.0 + 3.0 / 2048.0).to_f32(), 1.0 + 1.0 / 512.0);
        // bf16 keeps 7 mantissa bits: 1 + 2^-8 is a tie, rounds to 1.0.
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0).to_f32(), 1.0);
    }

    #[test]
    fn encode_and_decode_round_trip_representable_values() {
        let values = [0.0f32, -0.5, 1.5, 65_504.0, -2.0f32.powi(-24)];
        for dtype in [Dtype::F32, Dtype::F16, Dtype::BF16] {
            let mut bytes = vec![0u8; values.len() * dtype.size_bytes()];
            dtype.encode(&values, &mut bytes);
            let back = dtype.decode(&bytes);
            if dtype != Dtype::BF16 {
                assert_eq!(back, values, "{dtype}");
            }
            assert!(back.iter().all(|v| v.is_finite()));
        }
    }

    #[test]
    fn round_up_and_down_give_the_nearest_representable_on_each_side() {
        // Random-looking f32 across magnitudes, against a brute-force walk of the 2-byte type.
        let mut x = 0x3F80_0001u32;
        for _ in 0..20_000 {
            x = x.wrapping_mul(2_654_435_761).wrapping_add(12_345);
            let v = f32::from_bits(x & 0xC7FF_FFFF);
            if !v.is_finite() {
                continue;
            }
            for dtype in [Dtype::F16, Dtype::BF16] {
                let (up, down) = (dtype.round_up(v), dtype.round_down(v));
                let max = dtype.round_down(f32::MAX);
                let exact = |y: f32| dtype.decode(&encoded(dtype, y))[0] == y;
                assert!(exact(up) && exact(down), "{dtype} {v}: {down} {up}");
                if v.abs() <= max {
                    assert!(down <= v && v <= up, "{dtype} {v}: {down} {up}");
                    // Nothing of the type lies strictly between them, other than v itself.
                    let mid = dtype.decode(&encoded(dtype, (down + up) / 2.0))[0];
                    assert!(mid == down || mid == up, "{dtype} {v}: {down} {mid} {up}");
                }
            }
        }
        assert_eq!(Dtype::F16.round_up(f32::NEG_INFINITY), -65504.0);
        assert_eq!(Dtype::BF16.round_down(0.7), 0.69921875);
        assert_eq!(Dtype::BF16.round_up(0.7), 0.703125);
        assert_eq!(Dtype::F32.round_up(0.7), 0.7);
    }

    fn encoded(dtype: Dtype, v: f32) -> Vec<u8> {
        let mut out = vec![0u8; dtype.size_bytes()];
        dtype.encode(&[v], &mut out);
        out
    }
}
