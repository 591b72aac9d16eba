//! Words to values: the uniform conversion, Box–Muller, and the affine map of a distribution.
//!
//! Every function here is written with the operations `shaders/fill.wgsl` uses, in the same
//! order: integer shifts, exact integer-to-float conversions, and f32 add, multiply, divide and
//! square root without fused multiply-add. Where the GPU rounds those as IEEE 754 requires (as
//! Mesa's lavapipe does) the two paths agree bit for bit; the logarithm and sine/cosine are our
//! own polynomials for that reason, never the platform's `ln`/`sin_cos`.
//!
//! # Uniform conversion
//!
//! [`uniform01`] maps a word `w` to `u = ((w >> 8) | 1) * 2^-24`: the top 23 bits of `w` pick
//! one of the 2^23 odd multiples of 2^-24, every one exactly representable in f32. Hence
//! `u` lies in the closed interval `[2^-24, 1 - 2^-24]` (strictly inside (0, 1)) for every
//! input, including 0 and `0xFFFF_FFFF`, and the grid is symmetric about 1/2.
//!
//! # Box–Muller
//!
//! A pair of words `(w_a, w_b)` becomes two independent standard normals[^box1958]:
//! `r = sqrt(-2 ln u(w_a))`, `theta = 2 pi u(w_b)`, `z = (r cos theta, r sin theta)`. Within a
//! block, words (0, 1) give elements 0 and 1, words (2, 3) give elements 2 and 3.
//!
//! ## Limitations
//!
//! Since `u >= 2^-24`, the radius is at most `sqrt(48 ln 2) = 5.768...` ([`MAX_ABS_NORMAL`]):
//! no standard normal beyond 5.77 sigma is produced. The true probability of `|z| > 5.77` is
//! about 8e-9, so this truncation is invisible below about 10^10 samples.
//!
//! [^box1958]: G. E. P. Box and M. E. Muller, 1958, "A note on the generation of random normal
//!     deviates", The Annals of Mathematical Statistics 29(2), 610–611,
//!     <https://doi.org/10.1214/aoms/1177706645>.

use core::f64::consts::{FRAC_PI_2, LN_2};

use crate::dtype::Dtype;
use crate::philox::Block;
use crate::structured::Structure;

/// 2^-24, the spacing of the uniform grid (exact in f32).
pub const UNIFORM_STEP: f32 = 1.0 / 16_777_216.0;
/// Smallest value of [`uniform01`]: 2^-24, reached for words below 2^9.
pub const UNIFORM_MIN: f32 = UNIFORM_STEP;
/// Largest value of [`uniform01`]: 1 - 2^-24, reached for words from 0xFFFF_FF00 up.
pub const UNIFORM_MAX: f32 = 1.0 - UNIFORM_STEP;
/// Largest |z| Box–Muller can return: sqrt(-2 ln 2^-24) = sqrt(48 ln 2), rounded up to f32.
pub const MAX_ABS_NORMAL: f32 = 5.768_323;

// ln 2 split so that `e * LN2_HI` is exact for |e| < 2^7 (LN2_HI has 17 significant bits);
// the same split as fdlibm's `e_logf.c`.
/// High part of ln 2: 0.693145751953125.
pub(crate) const LN2_HI: f32 = f32::from_bits(0x3F31_7180);
/// Low part of ln 2: ln 2 - LN2_HI, rounded to f32.
pub(crate) const LN2_LO: f32 = (LN_2 - LN2_HI as f64) as f32;

/// Coefficients of ln(1 + f) = 2s + s R(s^2), s = f / (2 + f): the Taylor series of
/// 2 artanh(s), R(z) = z (2/3 + z (2/5 + z (2/7 + z 2/9))). For |s| <= 3 - 2 sqrt(2) the first
/// omitted term is below 2e-9 relative, a thirtieth of an f32 ulp.
pub const LOG_COEFFS: [f32; 4] = [
    (2.0 / 3.0_f64) as f32,
    (2.0 / 5.0_f64) as f32,
    (2.0 / 7.0_f64) as f32,
    (2.0 / 9.0_f64) as f32,
];

const HALF_PI_2: f64 = FRAC_PI_2 * FRAC_PI_2;
const HALF_PI_4: f64 = HALF_PI_2 * HALF_PI_2;
const HALF_PI_8: f64 = HALF_PI_4 * HALF_PI_4;

/// Taylor coefficients of sin(pi x / 2) = x (S1 + x^2 (S3 + ... + x^2 S9)), Sk = (-1)^((k-1)/2)
/// (pi/2)^k / k!. For |x| <= 1/2 the first omitted term is below 2e-9.
pub const SIN_COEFFS: [f32; 5] = [
    FRAC_PI_2 as f32,
    (-FRAC_PI_2 * HALF_PI_2 / 6.0) as f32,
    (FRAC_PI_2 * HALF_PI_4 / 120.0) as f32,
    (-FRAC_PI_2 * HALF_PI_4 * HALF_PI_2 / 5_040.0) as f32,
    (FRAC_PI_2 * HALF_PI_8 / 362_880.0) as f32,
];

/// Taylor coefficients of cos(pi x / 2) = C0 + x^2 (C2 + ... + x^2 C10), Ck = (-1)^(k/2)
/// (pi/2)^k / k!. For |x| <= 1/2 the first omitted term is below 2e-10.
pub const COS_COEFFS: [f32; 6] = [
    1.0,
    (-HALF_PI_2 / 2.0) as f32,
    (HALF_PI_4 / 24.0) as f32,
    (-HALF_PI_4 * HALF_PI_2 / 720.0) as f32,
    (HALF_PI_8 / 40_320.0) as f32,
    (-HALF_PI_8 * HALF_PI_2 / 3_628_800.0) as f32,
];

/// The odd 24-bit integer `(w >> 8) | 1` that [`uniform01`] scales by 2^-24.
#[inline(always)]
fn odd24(word: u32) -> u32 {
    (word >> 8) | 1
}

/// A word to a uniform in `[2^-24, 1 - 2^-24]`, strictly inside (0, 1); see the module docs.
#[inline(always)]
pub fn uniform01(word: u32) -> f32 {
    odd24(word) as f32 * UNIFORM_STEP
}

/// A word to a uniform in `[-1 + 2^-23, 1 - 2^-23]`, symmetric about 0: `2 u - 1`, exact.
#[inline(always)]
pub fn uniform_signed(word: u32) -> f32 {
    2.0 * uniform01(word) - 1.0
}

/// Natural logarithm of a uniform from [`uniform01`].
///
/// `u = 2^e m` with `m` in `[sqrt(1/2), sqrt(2))`, then `ln u = e ln 2 + ln(1 + f)`, `f = m - 1`,
/// with ln(1 + f) from [`LOG_COEFFS`] in fdlibm's form `f - (f^2/2 - s (f^2/2 + R))`. Accurate to
/// about one ulp for every positive normal f32; callers only pass `[2^-24, 1 - 2^-24]`.
#[inline(always)]
pub fn ln_uniform(u: f32) -> f32 {
    // Split u into exponent and a mantissa in [1, 2), then recentre the mantissa on 1.
    // Branch-free (selects, not jumps) so that loops over lanes vectorize; the values are
    // those of the plain `if`.
    let bits = u.to_bits();
    let mantissa = f32::from_bits((bits & 0x007F_FFFF) | 0x3F80_0000);
    let high = mantissa > core::f32::consts::SQRT_2;
    let exponent = ((bits >> 23) & 0xFF) as i32 - 127 + i32::from(high);
    let mantissa = if high { mantissa * 0.5 } else { mantissa };
    let f = mantissa - 1.0;

    // ln(1 + f) = 2 artanh(s); the subtraction order keeps the small terms small.
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z * (LOG_COEFFS[0] + z * (LOG_COEFFS[1] + z * (LOG_COEFFS[2] + z * LOG_COEFFS[3])));
    let half_f2 = 0.5 * f * f;
    let log1p_f = f - (half_f2 - s * (half_f2 + r));

    let e = exponent as f32;
    e * LN2_HI + (log1p_f + e * LN2_LO)
}

/// `(sin, cos)` of `2 pi u(word)` for the uniform of [`uniform01`].
///
/// The angle is reduced exactly in integers: `u = k 2^-24` with `k` odd, so `4u = q + x` with
/// the quadrant `q = round(4u)` and `x` in [-1/2, 1/2] a multiple of 2^-22; then
/// `sin(pi x / 2)` and `cos(pi x / 2)` come from [`SIN_COEFFS`] and [`COS_COEFFS`] and are
/// rotated by `q` quarter turns.
#[inline(always)]
pub fn sin_cos_turns(word: u32) -> (f32, f32) {
    // Exact reduction: k = 2^22 q + t with |t| <= 2^21.
    let k = odd24(word);
    let quadrant = (k + (1 << 21)) >> 22;
    let t = k as i32 - (quadrant << 22) as i32;
    let x = t as f32 * (1.0 / 4_194_304.0);
    let x2 = x * x;

    let sin_x = x
        * (SIN_COEFFS[0]
            + x2 * (SIN_COEFFS[1]
                + x2 * (SIN_COEFFS[2] + x2 * (SIN_COEFFS[3] + x2 * SIN_COEFFS[4]))));
    let cos_x = COS_COEFFS[0]
        + x2 * (COS_COEFFS[1]
            + x2 * (COS_COEFFS[2]
                + x2 * (COS_COEFFS[3] + x2 * (COS_COEFFS[4] + x2 * COS_COEFFS[5]))));

    // Rotate by q quarter turns: odd q swaps sine and cosine; the sine is negated in
    // quadrants 2 and 3, the cosine in 1 and 2. Negation flips the sign bit exactly, so this
    // branch-free form gives the same bits as a match on q.
    let odd = quadrant & 1 == 1;
    let (sin, cos) = if odd { (cos_x, sin_x) } else { (sin_x, cos_x) };
    let sin_sign = (quadrant & 2) << 30;
    let cos_sign = ((quadrant + 1) & 2) << 30;
    (
        f32::from_bits(sin.to_bits() ^ sin_sign),
        f32::from_bits(cos.to_bits() ^ cos_sign),
    )
}

/// Box–Muller: two words to two independent standard normals `(r cos theta, r sin theta)`.
///
/// `word_radius` feeds `r = sqrt(-2 ln u)`, `word_angle` feeds `theta = 2 pi u`. Both results
/// are finite and at most [`MAX_ABS_NORMAL`] in magnitude for every pair of words.
#[inline(always)]
pub fn box_muller(word_radius: u32, word_angle: u32) -> (f32, f32) {
    let radius = (-2.0 * ln_uniform(uniform01(word_radius))).sqrt();
    let (sin, cos) = sin_cos_turns(word_angle);
    (radius * cos, radius * sin)
}

/// Polynomial pieces of [`inverse_normal_lower`]: `h(w)` on `w` in [0, 5], as a polynomial in
/// `w - INVERSE_NORMAL_CENTRES[0]`. Fitted by `scripts/fit-inverse-normal.py` (weighted least
/// squares at Chebyshev nodes against a 90-digit erfinv, rounded to f32).
pub const INVERSE_NORMAL_A: [f32; 10] = [
    2.123_313_4,
    0.348_802_03,
    -0.005_907_719_5,
    -0.001_771_621,
    0.000_308_787_7,
    -7.032_982_5e-6,
    -4.897_553e-6,
    6.622_295e-7,
    3.290_139_7e-8,
    -1.264_506_9e-8,
];
/// `h(w)` on `w` in (5, 16], as a polynomial in `sqrt(w) - INVERSE_NORMAL_CENTRES[1]`.
pub const INVERSE_NORMAL_B: [f32; 9] = [
    4.173_808_6,
    1.419_330_4,
    0.010_130_072,
    -0.007_607_747,
    0.005_454_508_6,
    -0.003_828_410_8,
    0.001_914_739_7,
    -0.000_124_146_03,
    -0.000_282_356_08,
];
/// `h(w)` on `w` in (16, 88], as a polynomial in `sqrt(w) - INVERSE_NORMAL_CENTRES[2]`.
pub const INVERSE_NORMAL_C: [f32; 9] = [
    9.272_61,
    1.426_820_4,
    -0.000_728_109_7,
    -5.005_407_7e-6,
    1.327_428e-5,
    -2.906_540_7e-6,
    5.179_542e-7,
    -1.792_548_7e-7,
    3.383_451e-8,
];
/// Expansion points of the three pieces: 2.5 in `w`, then the midpoints of
/// [sqrt(5), 4] and [4, sqrt(88)] in `sqrt(w)`.
pub const INVERSE_NORMAL_CENTRES: [f32; 3] = [2.5, 3.118_034, 6.690_416];

/// Smallest `t` [`inverse_normal_lower`] accepts: 2^-126, the smallest normal f32, where
/// `z = -13.2`.
pub const INVERSE_NORMAL_MIN_T: f32 = f32::MIN_POSITIVE;

/// Horner's rule, highest coefficient first in the evaluation, plain multiply-then-add.
#[inline(always)]
fn horner<const N: usize>(coeffs: &[f32; N], x: f32) -> f32 {
    let mut acc = coeffs[N - 1];
    let mut i = N - 1;
    while i > 0 {
        i -= 1;
        acc = acc * x + coeffs[i];
    }
    acc
}

/// The lower half of the inverse normal CDF: `z = Phi^-1(t)` for `t` in
/// `[2^-126, 1/2]`, so `z <= 0`.
///
/// With `x = 1 - 2t` and `w = -ln(4 t (1 - t)) = -ln(1 - x^2)`, `Phi^-1(t) = -sqrt(2)
/// erfinv(x) = -x h(w)`, where `h(w) = sqrt(2) erfinv(x) / x` is smooth in `w` near 0 and in
/// `sqrt(w)` for large `w` (the form of M. Giles, "Approximating the erfinv function", GPU
/// Computing Gems Jade Edition, 2011, with our own three pieces reaching `w = 88`). Working
/// from `t` rather than from `x` keeps the far tail exact: `4 t (1 - t)` has no cancellation,
/// where `1 - x` would lose every digit below 2^-24. Relative error about 2e-7 (a few ulps)
/// over the whole range; the logarithm is [`ln_uniform`], valid for every positive normal f32.
#[inline(always)]
pub fn inverse_normal_lower(t: f32) -> f32 {
    let x = 1.0 - 2.0 * t;
    let w = -ln_uniform(4.0 * t * (1.0 - t));
    let h = if w <= 5.0 {
        horner(&INVERSE_NORMAL_A, w - INVERSE_NORMAL_CENTRES[0])
    } else if w <= 16.0 {
        horner(&INVERSE_NORMAL_B, w.sqrt() - INVERSE_NORMAL_CENTRES[1])
    } else {
        horner(&INVERSE_NORMAL_C, w.sqrt() - INVERSE_NORMAL_CENTRES[2])
    };
    -(x * h)
}

/// One value of a truncated normal by inversion: `mean + std Phi^-1(p)` with
/// `p = Phi(alpha) + u (Phi(beta) - Phi(alpha))`, clamped to `[low, high]`.
///
/// The CDF coordinate is carried from whichever end is nearer, so that both tails keep f32's
/// relative precision: with `u` from [`uniform01`] and `1 - u` (exact on that grid),
/// `p = p_low + u mass` and `q = 1 - p = q_high + (1 - u) mass`; the smaller of the two goes
/// through [`inverse_normal_lower`] and the sign is restored. A lower bound 5.5 std above the
/// mean thus gives `q` near 1.9e-8, well inside f32's range, where `p` would round to 1.
#[inline(always)]
pub fn truncated_normal(word: u32, affine: &Affine) -> f32 {
    let t = &affine.truncation;
    let u = uniform01(word);
    let p = t.p_low + u * t.mass;
    let q = t.q_high + (1.0 - u) * t.mass;
    let lower = p <= q;
    let z = inverse_normal_lower(if lower { p } else { q });
    let z = if lower { z } else { -z };
    (affine.offset + affine.scale * z).max(t.low).min(t.high)
}

/// The distribution of one tensor's elements, after a scheme has been resolved against the
/// tensor's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Distribution {
    /// `mean + std z`, `z` standard normal from [`box_muller`].
    Normal {
        /// Mean.
        mean: f32,
        /// Standard deviation, finite and >= 0.
        std: f32,
    },
    /// `(low + high)/2 + (high - low)/2 s`, `s` from [`uniform_signed`]: values in
    /// `[low, high]`, the ends reachable only through f32 rounding.
    Uniform {
        /// Lower bound.
        low: f32,
        /// Upper bound, >= `low`.
        high: f32,
    },
    /// Every element equals `value`; no random words are drawn.
    Constant {
        /// The value.
        value: f32,
    },
    /// N(mean, std^2) conditioned on `[low, high]`, by inversion ([`truncated_normal`]).
    /// Bounds may be infinite.
    TruncatedNormal {
        /// Mean of the untruncated normal.
        mean: f32,
        /// Standard deviation of the untruncated normal, > 0.
        std: f32,
        /// Lower bound.
        low: f32,
        /// Upper bound, > `low`.
        high: f32,
    },
    /// A tensor computed as a whole on the CPU ([`crate::structured`]); the kernels never
    /// see it.
    Structured(Structure),
}

/// How the kernel turns words into values: the shader's `kind` codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// `offset + scale * uniform_signed(word)`.
    Uniform = 0,
    /// `offset + scale * z`, `z` from Box–Muller.
    Normal = 1,
    /// `offset`.
    Constant = 2,
    /// `offset + scale * z`, `z` from [`truncated_normal`], clamped.
    TruncatedNormal = 3,
}

/// A distribution as the kernel sees it: value = `offset + scale * x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    /// Which `x`: signed uniform, standard normal, truncated normal, or none.
    pub kind: Kind,
    /// Added last.
    pub offset: f32,
    /// Multiplies `x`.
    pub scale: f32,
    /// The truncated normal's constants; zero for the other kinds.
    pub truncation: Truncation,
}

/// Constants of [`truncated_normal`] for standardized bounds `alpha = (low - mean) / std` and
/// `beta = (high - mean) / std`, computed in f64 and rounded once, so that the CPU and GPU
/// use the same f32 values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Truncation {
    /// `Phi(alpha)`.
    pub p_low: f32,
    /// `1 - Phi(beta)`.
    pub q_high: f32,
    /// `Phi(beta) - Phi(alpha)`, the probability of the interval.
    pub mass: f32,
    /// Values are clamped to `[low, high]`: the bounds rounded inward to the output dtype, so
    /// that rounding to f16 or bf16 cannot leave the interval.
    pub low: f32,
    /// See `low`.
    pub high: f32,
}

/// Smallest interval probability a truncated normal accepts: 2^-102, so that
/// `u * mass >= 2^-126` stays a normal f32 for every uniform `u >= 2^-24`.
pub const MIN_TRUNCATION_MASS: f64 = 1.0 / (1u128 << 102) as f64;

/// Standard normal CDF, `Phi(x) = erfc(-x / sqrt 2) / 2`, in f64 (libm's erfc keeps the
/// relative precision of both tails).
pub fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
}

impl Truncation {
    /// `(Phi(alpha), 1 - Phi(beta), Phi(beta) - Phi(alpha))` in f64, the interval's
    /// probability taken from the side where it is not a difference of nearly equal numbers.
    pub fn new_f64(alpha: f64, beta: f64) -> (f64, f64, f64) {
        let p_low = normal_cdf(alpha);
        let q_high = normal_cdf(-beta);
        let mass = if alpha >= 0.0 {
            normal_cdf(-alpha) - q_high
        } else if beta <= 0.0 {
            normal_cdf(beta) - p_low
        } else {
            1.0 - p_low - q_high
        };
        (p_low, q_high, mass)
    }

    /// The constants for `[low, high]` of N(mean, std^2), with clamp bounds rounded inward
    /// to `dtype`.
    fn new(mean: f32, std: f32, low: f32, high: f32, dtype: Dtype) -> Self {
        let (mean, std) = (f64::from(mean), f64::from(std));
        let alpha = (f64::from(low) - mean) / std;
        let beta = (f64::from(high) - mean) / std;
        let (p_low, q_high, mass) = Self::new_f64(alpha, beta);
        Self {
            p_low: p_low as f32,
            q_high: q_high as f32,
            mass: mass as f32,
            low: dtype.round_up(low),
            high: dtype.round_down(high),
        }
    }
}

impl Distribution {
    /// The constants the CPU and GPU both apply for f32 output: [`Distribution::affine_for`]
    /// with [`Dtype::F32`].
    pub fn affine(&self) -> Affine {
        self.affine_for(Dtype::F32)
    }

    /// The constants the CPU and GPU both apply for output in `dtype`. Uniform centre and
    /// half-width, and the truncated normal's constants, are computed in f64 and rounded
    /// once, so both paths use the same f32 values. Only the truncated normal depends on
    /// `dtype` (its clamp bounds; see [`Truncation`]).
    pub fn affine_for(&self, dtype: Dtype) -> Affine {
        let plain = |kind, offset, scale| Affine {
            kind,
            offset,
            scale,
            truncation: Truncation::default(),
        };
        match *self {
            Distribution::Normal { mean, std } => plain(Kind::Normal, mean, std),
            Distribution::Uniform { low, high } => plain(
                Kind::Uniform,
                ((f64::from(low) + f64::from(high)) / 2.0) as f32,
                ((f64::from(high) - f64::from(low)) / 2.0) as f32,
            ),
            Distribution::Constant { value } => plain(Kind::Constant, value, 0.0),
            // Routed to `structured::fill_range` before any kernel; zeros if it ever were not.
            Distribution::Structured(_) => plain(Kind::Constant, 0.0, 0.0),
            Distribution::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => Affine {
                truncation: Truncation::new(mean, std, low, high, dtype),
                ..plain(Kind::TruncatedNormal, mean, std)
            },
        }
    }

    /// The standard deviation of the distribution (before f32 rounding).
    pub fn std(&self) -> f64 {
        match *self {
            Distribution::Normal { std, .. } => f64::from(std),
            Distribution::Uniform { low, high } => {
                (f64::from(high) - f64::from(low)) / 12f64.sqrt()
            }
            Distribution::Constant { .. } => 0.0,
            Distribution::Structured(s) => s.mean_std().1,
            Distribution::TruncatedNormal { std, .. } => {
                let (alpha, beta, mass, phi_a, phi_b) = self.standardized();
                let (a_phi, b_phi) = (tail_term(alpha, phi_a), tail_term(beta, phi_b));
                let shift = (phi_a - phi_b) / mass;
                f64::from(std) * (1.0 + (a_phi - b_phi) / mass - shift * shift).sqrt()
            }
        }
    }

    /// The mean of the distribution.
    pub fn mean(&self) -> f64 {
        match *self {
            Distribution::Normal { mean, .. } => f64::from(mean),
            Distribution::Uniform { low, high } => (f64::from(low) + f64::from(high)) / 2.0,
            Distribution::Constant { value } => f64::from(value),
            Distribution::Structured(s) => s.mean_std().0,
            Distribution::TruncatedNormal { mean, std, .. } => {
                let (_, _, mass, phi_a, phi_b) = self.standardized();
                f64::from(mean) + f64::from(std) * (phi_a - phi_b) / mass
            }
        }
    }

    /// For a truncated normal: `(alpha, beta, mass, phi(alpha), phi(beta))`, the standardized
    /// bounds, the interval's probability and the standard normal density at the bounds.
    fn standardized(&self) -> (f64, f64, f64, f64, f64) {
        let Distribution::TruncatedNormal {
            mean,
            std,
            low,
            high,
        } = *self
        else {
            return (0.0, 0.0, 1.0, 0.0, 0.0);
        };
        let (mean, std) = (f64::from(mean), f64::from(std));
        let alpha = (f64::from(low) - mean) / std;
        let beta = (f64::from(high) - mean) / std;
        let t = Truncation::new_f64(alpha, beta);
        let density = |x: f64| (-0.5 * x * x).exp() / (2.0 * core::f64::consts::PI).sqrt();
        (alpha, beta, t.2, density(alpha), density(beta))
    }
}

/// `x phi(x)`, 0 at infinite `x` (where the density vanishes faster than `x` grows).
fn tail_term(x: f64, phi: f64) -> f64 {
    if x.is_finite() { x * phi } else { 0.0 }
}

impl Affine {
    /// The four values of one block of words, element `4b + j` at index `j`.
    #[inline(always)]
    pub fn block_values(&self, words: Block) -> [f32; 4] {
        match self.kind {
            Kind::Normal => {
                let (z0, z1) = box_muller(words[0], words[1]);
                let (z2, z3) = box_muller(words[2], words[3]);
                [z0, z1, z2, z3].map(|z| self.offset + self.scale * z)
            }
            Kind::Uniform => words.map(|w| self.offset + self.scale * uniform_signed(w)),
            Kind::Constant => [self.offset; 4],
            Kind::TruncatedNormal => words.map(|w| truncated_normal(w, self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_stays_strictly_inside_the_unit_interval_at_extreme_words() {
        assert_eq!(uniform01(0), UNIFORM_MIN);
        assert_eq!(uniform01(1), UNIFORM_MIN);
        assert_eq!(uniform01(0xFFFF_FF7F), UNIFORM_MAX);
        assert_eq!(uniform01(0xFFFF_FF80), UNIFORM_MAX);
        assert_eq!(uniform01(0xFFFF_FFFF), UNIFORM_MAX);
        const { assert!(UNIFORM_MIN > 0.0 && UNIFORM_MAX < 1.0) };
        assert_eq!(uniform_signed(0), -uniform_signed(u32::MAX));
    }

    #[test]
    fn uniform_grid_is_symmetric_about_one_half() {
        for w in [0u32, 0x1234_5678, 0x8000_0000, 0xDEAD_BEEF] {
            assert_eq!(uniform01(w), 1.0 - uniform01(!w));
        }
    }

    #[test]
    fn ln_uniform_is_within_two_ulp_of_f64_ln_over_the_whole_grid_sample() {
        // Every 251st grid point plus both ends, against the correctly rounded f64 ln.
        let mut worst = 0.0f64;
        for k in (1u32..(1 << 24)).step_by(251 * 2).chain([1, (1 << 24) - 1]) {
            let u = k as f32 * UNIFORM_STEP;
            let exact = f64::from(u).ln();
            let got = f64::from(ln_uniform(u));
            let ulp = f64::from(f32::EPSILON) * exact.abs().max(f64::from(f32::MIN_POSITIVE));
            worst = worst.max((got - exact).abs() / ulp);
        }
        assert!(worst <= 2.0, "worst ln error {worst} ulp exceeds 2");
    }

    #[test]
    fn sin_cos_turns_is_within_4e_7_of_f64_sin_cos() {
        let mut worst = 0.0f64;
        for w in (0u32..=u32::MAX).step_by(4099 * 256) {
            let theta = 2.0 * core::f64::consts::PI * f64::from(uniform01(w));
            let (s, c) = sin_cos_turns(w);
            worst = worst.max((f64::from(s) - theta.sin()).abs());
            worst = worst.max((f64::from(c) - theta.cos()).abs());
        }
        // A few f32 ulps of 1 (6e-8 each): Horner rounding plus the final rotation.
        assert!(worst < 4e-7, "worst sin/cos error {worst} exceeds 4e-7");
    }

    #[test]
    fn box_muller_is_finite_and_bounded_at_extreme_words() {
        let extremes = [0u32, 1, 0xFFFF_FF7F, 0xFFFF_FF80, 0xFFFF_FFFF];
        let mut largest = 0.0f32;
        for &a in &extremes {
            for &b in &extremes {
                let (z0, z1) = box_muller(a, b);
                assert!(z0.is_finite() && z1.is_finite(), "words {a:#x} {b:#x}");
                largest = largest.max(z0.abs()).max(z1.abs());
            }
        }
        assert!(largest <= MAX_ABS_NORMAL, "largest |z| {largest}");
        // Word 0 is the smallest uniform, hence the largest radius, at angle ~0.
        let radius_max = (-2.0 * f64::from(UNIFORM_MIN).ln()).sqrt();
        assert!(
            (f64::from(largest) - radius_max).abs() < 1e-5,
            "{largest} vs {radius_max}"
        );
        assert!(f64::from(MAX_ABS_NORMAL) >= radius_max);
    }

    #[test]
    fn coefficients_equal_their_closed_forms() {
        // Independent f64 evaluation of (pi/2)^k / k! against the f32 tables.
        let h = core::f64::consts::FRAC_PI_2;
        let fact = |n: i32| (1..=n).map(f64::from).product::<f64>();
        for (i, c) in SIN_COEFFS.iter().enumerate() {
            let k = 2 * i as i32 + 1;
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            assert_eq!(
                *c,
                (sign * h.powi(k) / fact(k)) as f32,
                "sin coefficient {k}"
            );
        }
        for (i, c) in COS_COEFFS.iter().enumerate() {
            let k = 2 * i as i32;
            let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
            assert_eq!(
                *c,
                (sign * h.powi(k) / fact(k)) as f32,
                "cos coefficient {k}"
            );
        }
    }

    #[test]
    fn inverse_normal_lower_is_within_3e_7_relative_of_statrs_over_its_whole_range() {
        use statrs::distribution::{ContinuousCDF, Normal};
        // Log-spaced t from 2^-126 to 1/2 (4000 points per decade of binary exponent), plus
        // the points where the pieces meet (w = 5 and w = 16), against statrs's f64 inverse.
        let n = Normal::standard();
        let mut worst = (0.0f64, 0.0f32);
        let boundaries = [5.0f64, 16.0].map(|w| {
            // 4 t (1 - t) = e^-w.
            ((1.0 - (1.0 - (-w).exp()).sqrt()) / 2.0) as f32
        });
        let grid = (0..=126 * 64).map(|k| (2.0f64).powf(-(k as f64) / 64.0 - 1.0) as f32);
        for t in grid
            .chain(boundaries)
            .chain(boundaries.map(f32::next_up))
            .chain(boundaries.map(f32::next_down))
            .filter(|&t| t >= INVERSE_NORMAL_MIN_T)
        {
            let exact = n.inverse_cdf(f64::from(t));
            let got = f64::from(inverse_normal_lower(t));
            let rel = if exact == 0.0 {
                got.abs()
            } else {
                ((got - exact) / exact).abs()
            };
            if rel > worst.0 {
                worst = (rel, t);
            }
            assert!(got <= 0.0, "t = {t:e} gave {got}");
        }
        assert!(
            worst.0 <= 3e-7,
            "worst relative error {:e} at t = {:e}",
            worst.0,
            worst.1
        );
        assert_eq!(inverse_normal_lower(0.5), 0.0);
    }

    #[test]
    fn truncated_normal_stays_inside_far_tail_bounds_for_every_word_class() {
        // A lower bound 5.5 std above the mean, no upper bound: q = (1 - u) Q(5.5) ~ 2e-8.
        for (low, high) in [
            (5.5f32, f32::INFINITY),
            (-2.0, 2.0),
            (-11.0, -10.5),
            (0.0, 1e-3),
        ] {
            let d = Distribution::TruncatedNormal {
                mean: 0.0,
                std: 1.0,
                low,
                high,
            };
            let affine = d.affine();
            let mut min = f32::INFINITY;
            let mut max = f32::NEG_INFINITY;
            for w in (0u32..=u32::MAX).step_by(65_537).chain([0, 255, u32::MAX]) {
                let v = truncated_normal(w, &affine);
                assert!(
                    v.is_finite() && v >= low && v <= high,
                    "{d:?}: {v} at {w:#x}"
                );
                min = min.min(v);
                max = max.max(v);
            }
            // The sample reaches both ends of the interval (or deep into an open one).
            let span = if high.is_finite() { high - low } else { 1.0 };
            assert!(min - low < 0.01 * span, "{d:?}: min {min}");
            if high.is_finite() {
                assert!(high - max < 0.01 * span, "{d:?}: max {max}");
            }
        }
    }

    #[test]
    fn truncated_mean_and_std_match_the_untruncated_limit_and_a_half_normal() {
        let wide = Distribution::TruncatedNormal {
            mean: 2.0,
            std: 3.0,
            low: f32::NEG_INFINITY,
            high: f32::INFINITY,
        };
        assert!((wide.mean() - 2.0).abs() < 1e-12 && (wide.std() - 3.0).abs() < 1e-12);
        // Half-normal: mean sqrt(2 / pi), variance 1 - 2 / pi.
        let half = Distribution::TruncatedNormal {
            mean: 0.0,
            std: 1.0,
            low: 0.0,
            high: f32::INFINITY,
        };
        let pi = core::f64::consts::PI;
        assert!((half.mean() - (2.0 / pi).sqrt()).abs() < 1e-12);
        assert!((half.std() - (1.0 - 2.0 / pi).sqrt()).abs() < 1e-12);
    }
}
