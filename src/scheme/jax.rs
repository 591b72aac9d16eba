//! JAX's variance-scaling view of initialization: fans from chosen axes, a variance mode and
//! a distribution[^jax-init].
//!
//! For a kernel of shape `s` with input axes `I`, output axes `O` and batch axes `B`,
//! `receptive = prod(s) / (prod(s[I]) prod(s[O]) prod(s[B]))`, `fan_in = prod(s[I]) receptive`
//! and `fan_out = prod(s[O]) receptive`. JAX's default axes are `in_axis = -2`,
//! `out_axis = -1` (kernels laid out `(..., in, out)`, as in Flax), unlike PyTorch's
//! `(out, in, *kernel)`. The variance is `scale / n` with `n` the mode's fan, and:
//!
//! | distribution | values |
//! |---|---|
//! | `normal` | N(0, variance) |
//! | `truncated_normal` | `s z`, `z` standard normal truncated to [-2, 2], `s = sqrt(variance) / 0.87962566103423978` (the std of that truncated normal, so the variance comes out right) |
//! | `uniform` | U(-b, b), `b = sqrt(3 variance)` |
//!
//! [^jax-init]: JAX, `jax/_src/nn/initializers.py`,
//!     <https://github.com/jax-ml/jax/blob/jax-v0.4.35/jax/_src/nn/initializers.py>.

use std::fmt;
use std::str::FromStr;

use super::normalize;
use crate::error::{Error, Result};

/// Standard deviation of a standard normal truncated to [-2, 2]: JAX's correction for
/// `variance_scaling(..., "truncated_normal")`, JAX's literal `.87962566103423978`.
pub const TRUNCATED_STD_CORRECTION: f64 = 0.879_625_661_034_239_8;

/// Which fan the variance is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceMode {
    /// `fan_in`.
    FanIn,
    /// `fan_out`.
    FanOut,
    /// `(fan_in + fan_out) / 2`.
    FanAvg,
    /// `sqrt(fan_in fan_out)`.
    FanGeoAvg,
}

impl FromStr for VarianceMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match normalize(s).as_str() {
            "fan_in" => Ok(VarianceMode::FanIn),
            "fan_out" => Ok(VarianceMode::FanOut),
            "fan_avg" => Ok(VarianceMode::FanAvg),
            "fan_geo_avg" => Ok(VarianceMode::FanGeoAvg),
            _ => Err(Error::invalid(
                "mode",
                format!("unknown mode {s:?}; expected fan_in, fan_out, fan_avg or fan_geo_avg"),
            )),
        }
    }
}

impl fmt::Display for VarianceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarianceMode::FanIn => "fan_in",
            VarianceMode::FanOut => "fan_out",
            VarianceMode::FanAvg => "fan_avg",
            VarianceMode::FanGeoAvg => "fan_geo_avg",
        })
    }
}

/// The distribution of `variance_scaling`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarianceDistribution {
    /// N(0, variance).
    Normal,
    /// Truncated to two of its standard deviations, rescaled to the variance.
    TruncatedNormal,
    /// U(-sqrt(3 variance), sqrt(3 variance)).
    Uniform,
}

impl FromStr for VarianceDistribution {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match normalize(s).as_str() {
            "normal" | "untruncated_normal" => Ok(VarianceDistribution::Normal),
            "truncated_normal" => Ok(VarianceDistribution::TruncatedNormal),
            "uniform" => Ok(VarianceDistribution::Uniform),
            _ => Err(Error::invalid(
                "distribution",
                format!("unknown distribution {s:?}; expected normal, truncated_normal or uniform"),
            )),
        }
    }
}

impl fmt::Display for VarianceDistribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VarianceDistribution::Normal => "normal",
            VarianceDistribution::TruncatedNormal => "truncated_normal",
            VarianceDistribution::Uniform => "uniform",
        })
    }
}

/// A set of axes, negative values counting from the end as in Python; at most 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Axes {
    len: u8,
    axes: [i8; 8],
}

impl Axes {
    /// One axis.
    pub const fn one(axis: i8) -> Self {
        let mut axes = [0; 8];
        axes[0] = axis;
        Self { len: 1, axes }
    }

    /// No axis.
    pub const NONE: Axes = Axes {
        len: 0,
        axes: [0; 8],
    };

    /// The axes as given.
    pub fn as_slice(&self) -> &[i8] {
        &self.axes[..usize::from(self.len)]
    }

    /// The axes as indices into a shape of `ndim` dimensions.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `what` for an axis outside `[-ndim, ndim)`.
    pub fn resolve(&self, ndim: usize, what: &str) -> Result<Vec<usize>> {
        self.as_slice()
            .iter()
            .map(|&a| {
                let i = if a < 0 {
                    ndim as i64 + i64::from(a)
                } else {
                    i64::from(a)
                };
                usize::try_from(i)
                    .ok()
                    .filter(|&i| i < ndim)
                    .ok_or_else(|| {
                        Error::invalid(
                            "axis",
                            format!("{what} {a} is outside a {ndim}-dimensional shape"),
                        )
                    })
            })
            .collect()
    }
}

impl FromStr for Axes {
    type Err = Error;

    /// `-2`, `(0, 1)`, `[0 1]` or `()`.
    fn from_str(s: &str) -> Result<Self> {
        let inner = s
            .trim()
            .trim_start_matches(['(', '['])
            .trim_end_matches([')', ']']);
        let mut axes = Axes::NONE;
        for part in inner.split([',', ' ']).filter(|p| !p.trim().is_empty()) {
            let axis: i8 = part.trim().parse().map_err(|_| {
                Error::invalid("axis", format!("{part:?} in {s:?} is not an axis index"))
            })?;
            if usize::from(axes.len) == axes.axes.len() {
                return Err(Error::invalid(
                    "axis",
                    format!("{s:?} names more than 8 axes"),
                ));
            }
            axes.axes[usize::from(axes.len)] = axis;
            axes.len += 1;
        }
        Ok(axes)
    }
}

impl fmt::Display for Axes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_slice() {
            [one] => write!(f, "{one}"),
            many => {
                let items: Vec<String> = many.iter().map(i8::to_string).collect();
                write!(f, "({})", items.join(", "))
            }
        }
    }
}

/// JAX's `in_axis`, `out_axis` and `batch_axis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanAxes {
    /// Input axes, default -2.
    pub in_axis: Axes,
    /// Output axes, default -1.
    pub out_axis: Axes,
    /// Batch axes, default none.
    pub batch_axis: Axes,
}

impl Default for FanAxes {
    fn default() -> Self {
        Self {
            in_axis: Axes::one(-2),
            out_axis: Axes::one(-1),
            batch_axis: Axes::NONE,
        }
    }
}

impl FanAxes {
    /// `(fan_in, fan_out)` of `shape` as JAX's `_compute_fans` computes them, as f64 (JAX
    /// divides in floating point).
    ///
    /// # Errors
    ///
    /// [`Error::FansUndefined`] for fewer than 2 dimensions; [`Error::InvalidArgument`] for an
    /// axis outside the shape or named twice.
    pub fn fans(&self, shape: &[u64], scheme: &str) -> Result<(f64, f64)> {
        if shape.len() < 2 {
            return Err(Error::FansUndefined {
                scheme: scheme.to_string(),
                shape: shape.to_vec(),
            });
        }
        let ndim = shape.len();
        let in_axes = self.in_axis.resolve(ndim, "in_axis")?;
        let out_axes = self.out_axis.resolve(ndim, "out_axis")?;
        let batch_axes = self.batch_axis.resolve(ndim, "batch_axis")?;
        let mut all: Vec<usize> = [&in_axes, &out_axes, &batch_axes]
            .iter()
            .flat_map(|a| a.iter().copied())
            .collect();
        all.sort_unstable();
        if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::invalid(
                "axis",
                format!(
                    "axis {} of shape {shape:?} is named twice among {self}",
                    w[0]
                ),
            ));
        }
        let size = |axes: &[usize]| axes.iter().map(|&i| shape[i] as f64).product::<f64>();
        let total = shape.iter().map(|&d| d as f64).product::<f64>();
        let (in_size, out_size) = (size(&in_axes), size(&out_axes));
        let receptive = total / in_size / out_size / size(&batch_axes);
        Ok((in_size * receptive, out_size * receptive))
    }
}

impl fmt::Display for FanAxes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in_axis={}, out_axis={}, batch_axis={}",
            self.in_axis, self.out_axis, self.batch_axis
        )
    }
}

/// The variance `scale / n` for `mode`'s fan `n`.
pub fn variance(scale: f64, mode: VarianceMode, fan_in: f64, fan_out: f64) -> f64 {
    let n = match mode {
        VarianceMode::FanIn => fan_in,
        VarianceMode::FanOut => fan_out,
        VarianceMode::FanAvg => (fan_in + fan_out) / 2.0,
        VarianceMode::FanGeoAvg => (fan_in * fan_out).sqrt(),
    };
    scale / n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans_follow_jax_compute_fans() {
        // Dense (in, out) and an HWIO conv kernel (3, 3, 16, 32).
        let axes = FanAxes::default();
        assert_eq!(axes.fans(&[128, 256], "v").unwrap(), (128.0, 256.0));
        assert_eq!(
            axes.fans(&[3, 3, 16, 32], "v").unwrap(),
            (16.0 * 9.0, 32.0 * 9.0)
        );
        // PyTorch's layout through the axes: (out, in, k, k) with in_axis=1, out_axis=0.
        let torch = FanAxes {
            in_axis: Axes::one(1),
            out_axis: Axes::one(0),
            batch_axis: Axes::NONE,
        };
        assert_eq!(
            torch.fans(&[64, 3, 7, 7], "v").unwrap(),
            (3.0 * 49.0, 64.0 * 49.0)
        );
        // A batch axis leaves the receptive field: (batch 4, in 8, out 2).
        let batched = FanAxes {
            batch_axis: Axes::one(0),
            ..FanAxes::default()
        };
        assert_eq!(batched.fans(&[4, 8, 2], "v").unwrap(), (8.0, 2.0));
        let multi: Axes = "(0, 1)".parse().unwrap();
        assert_eq!(multi.as_slice(), [0, 1]);
        let err = FanAxes {
            in_axis: Axes::one(-1),
            ..FanAxes::default()
        }
        .fans(&[4, 4], "v")
        .unwrap_err();
        assert!(err.to_string().contains("named twice"), "{err}");
        assert!(axes.fans(&[4], "v").is_err());
        assert!(
            FanAxes {
                in_axis: Axes::one(5),
                ..axes
            }
            .fans(&[4, 4], "v")
            .is_err()
        );
    }

    #[test]
    fn truncated_std_correction_is_the_std_of_a_two_sigma_truncated_normal() {
        // Var = 1 - 2 b phi(b) / (2 Phi(b) - 1) at b = 2, with erf from libm.
        let b = 2.0f64;
        let phi = (-b * b / 2.0).exp() / (2.0 * core::f64::consts::PI).sqrt();
        let mass = libm::erf(b / core::f64::consts::SQRT_2);
        let std = (1.0 - 2.0 * b * phi / mass).sqrt();
        assert!((std - TRUNCATED_STD_CORRECTION).abs() < 1e-15, "{std}");
    }
}
