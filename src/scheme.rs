//! Initialization schemes, gains and fans: from a scheme and a shape to a [`Distribution`].
//!
//! Formulas, names and defaults follow PyTorch's `torch.nn.init`[^torch-init]. The weight
//! layout is `(out, in, *kernel)`: `fan_in = in * prod(kernel)`,
//! `fan_out = out * prod(kernel)`. Fans and scales always come from the full tensor's shape,
//! never from a slice of it.
//!
//! | scheme | distribution | std or bound |
//! |---|---|---|
//! | `normal(mean, std)` | N(mean, std^2) | std, default 1 |
//! | `uniform(low, high)` | U(low, high) | default U(0, 1) |
//! | `he-normal` / `kaiming-normal` | N(0, std^2) | std = gain / sqrt(fan) |
//! | `he-uniform` / `kaiming-uniform` | U(-b, b) | b = gain sqrt(3 / fan) |
//! | `xavier-normal` / `glorot-normal` | N(0, std^2) | std = gain sqrt(2 / (fan_in + fan_out)) |
//! | `xavier-uniform` / `glorot-uniform` | U(-b, b) | b = gain sqrt(6 / (fan_in + fan_out)) |
//! | `lecun-normal` | N(0, std^2) | std = 1 / sqrt(fan_in) |
//! | `lecun-uniform` | U(-b, b) | b = sqrt(3 / fan_in) |
//! | `zeros`, `ones`, `constant(value)` | constant | - |
//!
//! He schemes take `mode` (`fan_in`, the default, or `fan_out`) and `nonlinearity` (default
//! `relu`, i.e. PyTorch's `kaiming_*_` with its default `a = 0`); Xavier schemes take `gain`
//! (default 1). The He and LeCun normals here are the plain normal of PyTorch, not the truncated
//! normal JAX's `he_normal` and `lecun_normal` use.
//!
//! [^torch-init]: PyTorch, `torch/nn/init.py`,
//!     <https://github.com/pytorch/pytorch/blob/v2.5.0/torch/nn/init.py>.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::transform::Distribution;

/// The activation a layer feeds, for PyTorch's `calculate_gain` table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Nonlinearity {
    /// Identity, gain 1 (also `conv1d`, `conv2d`, `conv3d`, `conv_transpose*`).
    Linear,
    /// Sigmoid, gain 1.
    Sigmoid,
    /// tanh, gain 5/3.
    Tanh,
    /// ReLU, gain sqrt(2).
    Relu,
    /// Leaky ReLU with the given negative slope, gain sqrt(2 / (1 + slope^2)).
    LeakyRelu {
        /// Negative slope; PyTorch's default is 0.01.
        negative_slope: f64,
    },
    /// SELU, gain 3/4 (PyTorch's choice for self-normalizing networks).
    Selu,
}

impl Nonlinearity {
    /// PyTorch's recommended gain for this nonlinearity (`torch.nn.init.calculate_gain`).
    pub fn gain(self) -> f64 {
        match self {
            Nonlinearity::Linear | Nonlinearity::Sigmoid => 1.0,
            Nonlinearity::Tanh => 5.0 / 3.0,
            Nonlinearity::Relu => 2f64.sqrt(),
            Nonlinearity::LeakyRelu { negative_slope } => {
                (2.0 / (1.0 + negative_slope * negative_slope)).sqrt()
            }
            Nonlinearity::Selu => 0.75,
        }
    }
}

impl FromStr for Nonlinearity {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match normalize(s).as_str() {
            "linear" | "identity" | "conv1d" | "conv2d" | "conv3d" | "conv_transpose1d"
            | "conv_transpose2d" | "conv_transpose3d" => Nonlinearity::Linear,
            "sigmoid" => Nonlinearity::Sigmoid,
            "tanh" => Nonlinearity::Tanh,
            "relu" => Nonlinearity::Relu,
            "leaky_relu" => Nonlinearity::LeakyRelu {
                negative_slope: 0.01,
            },
            "selu" => Nonlinearity::Selu,
            _ => {
                return Err(Error::invalid(
                    "nonlinearity",
                    format!(
                        "unknown nonlinearity {s:?}; expected one of linear, conv1d, conv2d, \
                         conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d, sigmoid, \
                         tanh, relu, leaky_relu, selu"
                    ),
                ));
            }
        })
    }
}

impl fmt::Display for Nonlinearity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Nonlinearity::Linear => f.write_str("linear"),
            Nonlinearity::Sigmoid => f.write_str("sigmoid"),
            Nonlinearity::Tanh => f.write_str("tanh"),
            Nonlinearity::Relu => f.write_str("relu"),
            Nonlinearity::LeakyRelu { negative_slope } => write!(f, "leaky_relu({negative_slope})"),
            Nonlinearity::Selu => f.write_str("selu"),
        }
    }
}

/// Which fan a He scheme preserves: `FanIn` keeps the forward pass's variance, `FanOut` the
/// backward pass's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanMode {
    /// `fan_in = in * prod(kernel)`.
    FanIn,
    /// `fan_out = out * prod(kernel)`.
    FanOut,
}

impl FromStr for FanMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match normalize(s).as_str() {
            "fan_in" => Ok(FanMode::FanIn),
            "fan_out" => Ok(FanMode::FanOut),
            _ => Err(Error::invalid(
                "mode",
                format!("unknown fan mode {s:?}; expected fan_in or fan_out"),
            )),
        }
    }
}

impl fmt::Display for FanMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FanMode::FanIn => "fan_in",
            FanMode::FanOut => "fan_out",
        })
    }
}

/// The nonlinearity of `kaiming_normal_` and `kaiming_uniform_` by default: leaky_relu with
/// `a = 0`, whose gain is relu's sqrt(2).
pub const KAIMING_DEFAULT: Nonlinearity = Nonlinearity::LeakyRelu {
    negative_slope: 0.0,
};

/// Fans of a weight tensor of shape `(out, in, *kernel)`, as PyTorch computes them.
///
/// # Errors
///
/// [`Error::FansUndefined`] for tensors of fewer than 2 dimensions; [`Error::TooLarge`] if a
/// fan overflows `u64`.
pub fn fans(shape: &[u64], scheme: &str) -> Result<(u64, u64)> {
    if shape.len() < 2 {
        return Err(Error::FansUndefined {
            scheme: scheme.to_string(),
            shape: shape.to_vec(),
        });
    }
    let too_large = || Error::TooLarge {
        what: "fan",
        value: format!("the fan of shape {shape:?}"),
        limit: u64::MAX.to_string(),
    };
    let receptive = shape[2..]
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(too_large)?;
    let fan_in = shape[1].checked_mul(receptive).ok_or_else(too_large)?;
    let fan_out = shape[0].checked_mul(receptive).ok_or_else(too_large)?;
    Ok((fan_in, fan_out))
}

/// An initialization scheme, before it meets a tensor shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scheme {
    /// N(mean, std^2).
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation.
        std: f64,
    },
    /// U(low, high).
    Uniform {
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// He / Kaiming normal: N(0, (gain / sqrt(fan))^2).
    HeNormal {
        /// Which fan.
        mode: FanMode,
        /// The nonlinearity whose gain scales the std.
        nonlinearity: Nonlinearity,
    },
    /// He / Kaiming uniform: U(-b, b), b = gain sqrt(3 / fan).
    HeUniform {
        /// Which fan.
        mode: FanMode,
        /// The nonlinearity whose gain scales the bound.
        nonlinearity: Nonlinearity,
    },
    /// Xavier / Glorot normal: N(0, gain^2 2 / (fan_in + fan_out)).
    XavierNormal {
        /// Gain.
        gain: f64,
    },
    /// Xavier / Glorot uniform: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)).
    XavierUniform {
        /// Gain.
        gain: f64,
    },
    /// LeCun normal: N(0, 1 / fan_in).
    LecunNormal,
    /// LeCun uniform: U(-b, b), b = sqrt(3 / fan_in).
    LecunUniform,
    /// Every element equals `value` (`zeros`, `ones`, `constant`).
    Constant {
        /// The value.
        value: f64,
    },
}

impl Default for Scheme {
    /// Plain N(0, 1), the notebook's first example.
    fn default() -> Self {
        Scheme::Normal {
            mean: 0.0,
            std: 1.0,
        }
    }
}

/// Lowercase with `-` and ` ` read as `_`, so `He-Normal`, `he_normal` and `he normal` agree.
fn normalize(s: &str) -> String {
    s.trim().to_ascii_lowercase().replace(['-', ' '], "_")
}

fn parse_f64(key: &str, value: &str) -> Result<f64> {
    value.trim().parse::<f64>().map_err(|_| {
        Error::invalid(
            "scheme parameter",
            format!("{key}={value:?} is not a number"),
        )
    })
}

impl Scheme {
    /// The scheme's canonical name, as [`Scheme::from_parts`] accepts it.
    pub fn name(&self) -> &'static str {
        match self {
            Scheme::Normal { .. } => "normal",
            Scheme::Uniform { .. } => "uniform",
            Scheme::HeNormal { .. } => "he-normal",
            Scheme::HeUniform { .. } => "he-uniform",
            Scheme::XavierNormal { .. } => "xavier-normal",
            Scheme::XavierUniform { .. } => "xavier-uniform",
            Scheme::LecunNormal => "lecun-normal",
            Scheme::LecunUniform => "lecun-uniform",
            Scheme::Constant { .. } => "constant",
        }
    }

    /// Builds a scheme from its name and `key=value` parameters.
    ///
    /// Names (case-insensitive, `-` or `_`): `normal`, `uniform`, `he-normal` (`he`,
    /// `kaiming-normal`, `kaiming`), `he-uniform` (`kaiming-uniform`), `xavier-normal`
    /// (`xavier`, `glorot-normal`, `glorot`), `xavier-uniform` (`glorot-uniform`),
    /// `lecun-normal` (`lecun`), `lecun-uniform`, `zeros`, `ones`, `constant`.
    /// Parameters: `mean`, `std` (normal); `low`/`a`, `high`/`b` (uniform); `mode`,
    /// `nonlinearity`, `negative_slope`/`a` (He); `gain` (Xavier); `value`/`val` (constant).
    /// The result is validated with [`Scheme::validate`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an unknown name, a parameter the scheme does not take, a
    /// value that is not a number, or a value [`Scheme::validate`] rejects.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::scheme::{FanMode, Nonlinearity, Scheme};
    ///
    /// let he = Scheme::from_parts("kaiming-uniform", &[("mode", "fan_out"), ("nonlinearity", "tanh")])?;
    /// assert_eq!(he, Scheme::HeUniform { mode: FanMode::FanOut, nonlinearity: Nonlinearity::Tanh });
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn from_parts(name: &str, params: &[(&str, &str)]) -> Result<Self> {
        let mut scheme = match normalize(name).as_str() {
            "normal" | "randn" | "gaussian" => Scheme::default(),
            "uniform" | "rand" => Scheme::Uniform {
                low: 0.0,
                high: 1.0,
            },
            "he" | "he_normal" | "kaiming" | "kaiming_normal" => Scheme::HeNormal {
                mode: FanMode::FanIn,
                nonlinearity: KAIMING_DEFAULT,
            },
            "he_uniform" | "kaiming_uniform" => Scheme::HeUniform {
                mode: FanMode::FanIn,
                nonlinearity: KAIMING_DEFAULT,
            },
            "xavier" | "xavier_normal" | "glorot" | "glorot_normal" => {
                Scheme::XavierNormal { gain: 1.0 }
            }
            "xavier_uniform" | "glorot_uniform" => Scheme::XavierUniform { gain: 1.0 },
            "lecun" | "lecun_normal" => Scheme::LecunNormal,
            "lecun_uniform" => Scheme::LecunUniform,
            "zeros" | "zero" => Scheme::Constant { value: 0.0 },
            "ones" | "one" => Scheme::Constant { value: 1.0 },
            "constant" => Scheme::Constant { value: 0.0 },
            _ => {
                return Err(Error::invalid(
                    "scheme",
                    format!(
                        "unknown scheme {name:?}; expected one of normal, uniform, he-normal, \
                         he-uniform, xavier-normal, xavier-uniform, lecun-normal, \
                         lecun-uniform, zeros, ones, constant"
                    ),
                ));
            }
        };
        // `zeros` and `ones` are fixed constants: only `constant` takes a value.
        if matches!(normalize(name).as_str(), "zeros" | "zero" | "ones" | "one")
            && let Some((key, _)) = params.first()
        {
            return Err(Error::invalid(
                "scheme parameter",
                format!("scheme {name} takes no parameter {key:?}; use constant(value=...)"),
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        let mut slope = None;
        for &(key, value) in params {
            let key = normalize(key);
            let canonical = match key.as_str() {
                "a" if scheme.uses_fans() => "negative_slope",
                "a" => "low",
                "b" => "high",
                "val" => "value",
                other => other,
            };
            if seen.iter().any(|k| k == canonical) {
                return Err(Error::invalid(
                    "scheme parameter",
                    format!("{canonical} is given twice for scheme {name}"),
                ));
            }
            seen.push(canonical.to_string());
            scheme.set(&key, value, &mut slope)?;
        }
        // PyTorch's `a` is the slope of kaiming's default leaky_relu (0, i.e. relu's gain);
        // for any other nonlinearity it would be silently ignored, so it is an error here.
        if let Scheme::HeNormal { nonlinearity, .. } | Scheme::HeUniform { nonlinearity, .. } =
            &mut scheme
        {
            match (nonlinearity, slope) {
                (Nonlinearity::LeakyRelu { negative_slope }, slope) => {
                    *negative_slope = slope.unwrap_or(0.0)
                }
                (_, None) => {}
                (other, Some(_)) => {
                    return Err(Error::invalid(
                        "scheme parameter",
                        format!("negative_slope applies to leaky_relu, not {other}"),
                    ));
                }
            }
        }
        scheme.validate()?;
        Ok(scheme)
    }

    /// Sets one parameter; `slope` collects a leaky-ReLU slope to apply once all are read.
    fn set(&mut self, key: &str, value: &str, slope: &mut Option<f64>) -> Result<()> {
        match (self, key) {
            (Scheme::Normal { mean, .. }, "mean") => *mean = parse_f64(key, value)?,
            (Scheme::Normal { std, .. }, "std") => *std = parse_f64(key, value)?,
            (Scheme::Uniform { low, .. }, "low" | "a") => *low = parse_f64(key, value)?,
            (Scheme::Uniform { high, .. }, "high" | "b") => *high = parse_f64(key, value)?,
            (Scheme::HeNormal { mode, .. } | Scheme::HeUniform { mode, .. }, "mode") => {
                *mode = value.parse()?
            }
            (
                Scheme::HeNormal { nonlinearity, .. } | Scheme::HeUniform { nonlinearity, .. },
                "nonlinearity",
            ) => *nonlinearity = value.parse()?,
            (Scheme::HeNormal { .. } | Scheme::HeUniform { .. }, "negative_slope" | "a") => {
                *slope = Some(parse_f64(key, value)?)
            }
            (Scheme::XavierNormal { gain } | Scheme::XavierUniform { gain }, "gain") => {
                *gain = parse_f64(key, value)?
            }
            (Scheme::Constant { value: v }, "value" | "val") => *v = parse_f64(key, value)?,
            (scheme, _) => {
                return Err(Error::invalid(
                    "scheme parameter",
                    format!("scheme {} takes no parameter {key:?}", scheme.name()),
                ));
            }
        }
        Ok(())
    }

    /// Checks the parameters: finite numbers, `std >= 0`, `low <= high`, `gain >= 0`, a
    /// finite leaky-ReLU slope; values that must become f32 neither overflow nor underflow to
    /// zero, and a normal's mean +- 5.77 std stays finite in f32.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the parameter and its value.
    pub fn validate(&self) -> Result<()> {
        let finite = |what: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(Error::invalid(what, format!("{v} is not a finite number")))
            }
        };
        match *self {
            Scheme::Normal { mean, std } => {
                finite("mean", mean)?;
                finite("std", std)?;
                if std < 0.0 {
                    return Err(Error::invalid(
                        "std",
                        format!("{std} is negative; std must be >= 0"),
                    ));
                }
                normal(mean, std)?;
            }
            Scheme::Uniform { low, high } => {
                finite("low", low)?;
                finite("high", high)?;
                if low > high {
                    return Err(Error::invalid(
                        "uniform bounds",
                        format!("low {low} is greater than high {high}"),
                    ));
                }
                to_f32("low", low)?;
                to_f32("high", high)?;
            }
            Scheme::HeNormal { nonlinearity, .. } | Scheme::HeUniform { nonlinearity, .. } => {
                if let Nonlinearity::LeakyRelu { negative_slope } = nonlinearity {
                    finite("negative_slope", negative_slope)?;
                }
            }
            Scheme::XavierNormal { gain } | Scheme::XavierUniform { gain } => {
                finite("gain", gain)?;
                if gain < 0.0 {
                    return Err(Error::invalid(
                        "gain",
                        format!("{gain} is negative; gain must be >= 0"),
                    ));
                }
            }
            Scheme::LecunNormal | Scheme::LecunUniform => {}
            Scheme::Constant { value } => {
                finite("value", value)?;
                to_f32("value", value)?;
            }
        }
        Ok(())
    }

    /// Whether the scheme needs fans (and so a tensor of at least 2 dimensions).
    pub fn uses_fans(&self) -> bool {
        !matches!(
            self,
            Scheme::Normal { .. } | Scheme::Uniform { .. } | Scheme::Constant { .. }
        )
    }

    /// The distribution of a tensor of `shape` under this scheme.
    ///
    /// Scales are computed in f64 from the full shape and rounded once to f32.
    ///
    /// # Errors
    ///
    /// [`Error::FansUndefined`] for a fan-based scheme on a 0-D or 1-D tensor;
    /// [`Error::InvalidArgument`] for invalid parameters, a zero fan, or a std or bound that
    /// is not finite in f32.
    pub fn distribution(&self, shape: &[u64]) -> Result<Distribution> {
        self.validate()?;
        let fan = |mode: FanMode| -> Result<f64> {
            let (fan_in, fan_out) = fans(shape, self.name())?;
            let fan = match mode {
                FanMode::FanIn => fan_in,
                FanMode::FanOut => fan_out,
            };
            positive_fan(fan, mode, shape)
        };
        let fan_sum = || -> Result<f64> {
            let (fan_in, fan_out) = fans(shape, self.name())?;
            let sum = fan_in as f64 + fan_out as f64;
            if sum == 0.0 {
                return Err(Error::invalid(
                    "shape",
                    format!("fan_in + fan_out is 0 for shape {shape:?}"),
                ));
            }
            Ok(sum)
        };
        let dist = match *self {
            Scheme::Normal { mean, std } => normal(mean, std)?,
            Scheme::Uniform { low, high } => Distribution::Uniform {
                low: to_f32("low", low)?,
                high: to_f32("high", high)?,
            },
            Scheme::HeNormal { mode, nonlinearity } => {
                normal(0.0, nonlinearity.gain() / fan(mode)?.sqrt())?
            }
            Scheme::HeUniform { mode, nonlinearity } => {
                symmetric(nonlinearity.gain() * (3.0 / fan(mode)?).sqrt())?
            }
            Scheme::XavierNormal { gain } => normal(0.0, gain * (2.0 / fan_sum()?).sqrt())?,
            Scheme::XavierUniform { gain } => symmetric(gain * (6.0 / fan_sum()?).sqrt())?,
            Scheme::LecunNormal => normal(0.0, 1.0 / fan(FanMode::FanIn)?.sqrt())?,
            Scheme::LecunUniform => symmetric((3.0 / fan(FanMode::FanIn)?).sqrt())?,
            Scheme::Constant { value } => Distribution::Constant {
                value: to_f32("value", value)?,
            },
        };
        Ok(dist)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Normal { mean, std } => write!(f, "normal(mean={mean}, std={std})"),
            Scheme::Uniform { low, high } => write!(f, "uniform(low={low}, high={high})"),
            Scheme::HeNormal { mode, nonlinearity } | Scheme::HeUniform { mode, nonlinearity } => {
                write!(
                    f,
                    "{}(mode={mode}, nonlinearity={nonlinearity})",
                    self.name()
                )
            }
            Scheme::XavierNormal { gain } | Scheme::XavierUniform { gain } => {
                write!(f, "{}(gain={gain})", self.name())
            }
            Scheme::LecunNormal | Scheme::LecunUniform => f.write_str(self.name()),
            Scheme::Constant { value } => write!(f, "constant(value={value})"),
        }
    }
}

impl FromStr for Scheme {
    type Err = Error;

    /// Parses `name` or `name(key=value, ...)`, for example `normal(std=0.02)`.
    fn from_str(s: &str) -> Result<Self> {
        let (name, params) = split_call(s)?;
        Scheme::from_parts(name, &params)
    }
}

/// Splits `name(k=v, k=v)` into the name and its `(key, value)` pairs; a bare `name` has none.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for a missing `)` or a parameter without `=`.
pub fn split_call(s: &str) -> Result<(&str, Vec<(&str, &str)>)> {
    let s = s.trim();
    let Some(open) = s.find('(') else {
        return Ok((s, Vec::new()));
    };
    let Some(inner) = s[open + 1..].strip_suffix(')') else {
        return Err(Error::invalid(
            "scheme",
            format!("{s:?} has '(' without a closing ')'"),
        ));
    };
    let params = inner
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| {
                    Error::invalid(
                        "scheme",
                        format!("parameter {p:?} in {s:?} is not key=value"),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((s[..open].trim(), params))
}

fn positive_fan(fan: u64, mode: FanMode, shape: &[u64]) -> Result<f64> {
    if fan == 0 {
        return Err(Error::invalid(
            "shape",
            format!("{mode} is 0 for shape {shape:?}"),
        ));
    }
    Ok(fan as f64)
}

/// `v` rounded to f32, with -0 as +0.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if `v` overflows f32 or is non-zero but rounds to zero.
fn to_f32(what: &'static str, v: f64) -> Result<f32> {
    let x = v as f32;
    if !x.is_finite() {
        return Err(Error::invalid(
            what,
            format!("{v} does not fit in f32 (limit {})", f32::MAX),
        ));
    }
    if x == 0.0 && v != 0.0 {
        return Err(Error::invalid(
            what,
            format!(
                "{v} is below the smallest positive f32 ({:e}) and would become 0",
                f32::from_bits(1)
            ),
        ));
    }
    Ok(x + 0.0)
}

/// N(mean, std^2), provided every value it can produce, mean +- MAX_ABS_NORMAL std, is finite
/// in f32.
fn normal(mean: f64, std: f64) -> Result<Distribution> {
    let reach = mean.abs() + std * f64::from(crate::transform::MAX_ABS_NORMAL);
    if reach >= f64::from(f32::MAX) {
        return Err(Error::invalid(
            "std",
            format!(
                "mean {mean} and std {std} reach {reach:e}, past the largest f32 {:e}",
                f32::MAX
            ),
        ));
    }
    Ok(Distribution::Normal {
        mean: to_f32("mean", mean)?,
        std: to_f32("std", std)?,
    })
}

fn symmetric(bound: f64) -> Result<Distribution> {
    let bound = to_f32("bound", bound)?;
    Ok(Distribution::Uniform {
        low: -bound,
        high: bound,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fans_follow_pytorch_for_linear_and_conv_shapes() {
        assert_eq!(fans(&[4, 2], "he").unwrap(), (2, 4));
        assert_eq!(fans(&[64, 3, 7, 7], "he").unwrap(), (3 * 49, 64 * 49));
        assert!(matches!(fans(&[5], "he"), Err(Error::FansUndefined { .. })));
        assert!(matches!(fans(&[], "he"), Err(Error::FansUndefined { .. })));
    }

    #[test]
    fn gains_match_pytorch_calculate_gain() {
        assert_eq!(Nonlinearity::Linear.gain(), 1.0);
        assert_eq!("conv2d".parse::<Nonlinearity>().unwrap().gain(), 1.0);
        assert_eq!(Nonlinearity::Sigmoid.gain(), 1.0);
        assert_eq!(Nonlinearity::Tanh.gain(), 5.0 / 3.0);
        assert_eq!(Nonlinearity::Relu.gain(), 2f64.sqrt());
        assert_eq!(Nonlinearity::Selu.gain(), 0.75);
        let leaky = "leaky_relu".parse::<Nonlinearity>().unwrap();
        assert_eq!(leaky.gain(), (2.0 / (1.0 + 0.01f64 * 0.01)).sqrt());
    }

    #[test]
    fn scheme_formulas_give_the_documented_scales() {
        let shape = [256, 128];
        let std = |s: &str| {
            s.parse::<Scheme>()
                .unwrap()
                .distribution(&shape)
                .unwrap()
                .std()
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-6 * b;
        assert!(close(std("he"), (2.0f64 / 128.0).sqrt()));
        assert!(close(std("he(mode=fan_out)"), (2.0f64 / 256.0).sqrt()));
        assert!(close(
            std("he(nonlinearity=tanh)"),
            5.0 / 3.0 / 128f64.sqrt()
        ));
        assert!(close(std("xavier"), (2.0f64 / 384.0).sqrt()));
        assert!(close(std("xavier(gain=2)"), 2.0 * (2.0f64 / 384.0).sqrt()));
        assert!(close(std("lecun"), 1.0 / 128f64.sqrt()));
        // Uniform schemes: std = bound / sqrt(3).
        assert!(close(
            std("he-uniform"),
            (6.0f64 / 128.0).sqrt() / 3f64.sqrt()
        ));
        assert!(close(
            std("xavier-uniform"),
            (6.0f64 / 384.0).sqrt() / 3f64.sqrt()
        ));
        assert!(close(
            std("lecun-uniform"),
            (3.0f64 / 128.0).sqrt() / 3f64.sqrt()
        ));
    }

    #[test]
    fn kaiming_a_parameter_means_leaky_relu_slope() {
        let s: Scheme = "kaiming-normal(a=0.2)".parse().unwrap();
        let Scheme::HeNormal { nonlinearity, .. } = s else {
            panic!("{s:?}")
        };
        assert_eq!(
            nonlinearity,
            Nonlinearity::LeakyRelu {
                negative_slope: 0.2
            }
        );
    }

    #[test]
    fn bad_schemes_and_parameters_are_rejected_with_the_value() {
        for bad in [
            "nope",
            "normal(std=-1)",
            "normal(std=nan)",
            "normal(std=x)",
            "uniform(low=2, high=1)",
            "xavier(mode=fan_in)",
            "he(nonlinearity=swish)",
            "he(mode=fan_avg)",
            "normal(std=1",
            "constant(value=inf)",
            "ones(value=5)",
            "zeros(value=5)",
            "normal(std=2, std=3)",
            "uniform(a=1, low=2)",
            "kaiming-normal(a=0.2, nonlinearity=relu)",
            "normal(std=1e-50)",
            "normal(std=1e38)",
            "normal(mean=3e38, std=1e37)",
        ] {
            let err = bad.parse::<Scheme>().unwrap_err();
            assert!(matches!(err, Error::InvalidArgument { .. }), "{bad}: {err}");
        }
        let err = "normal(std=-1)".parse::<Scheme>().unwrap_err().to_string();
        assert!(err.contains("-1"), "{err}");
    }

    #[test]
    fn kaiming_defaults_to_leaky_relu_with_slope_zero_like_pytorch() {
        let he: Scheme = "he".parse().unwrap();
        assert_eq!(
            he,
            Scheme::HeNormal {
                mode: FanMode::FanIn,
                nonlinearity: KAIMING_DEFAULT
            }
        );
        assert_eq!(KAIMING_DEFAULT.gain(), 2f64.sqrt());
        // kaiming_normal_(nonlinearity="leaky_relu") keeps a = 0, not calculate_gain's 0.01.
        let leaky: Scheme = "he(nonlinearity=leaky_relu)".parse().unwrap();
        assert_eq!(leaky, he);
    }

    #[test]
    fn negative_zero_parameters_become_positive_zero() {
        let d = "normal(std=-0)"
            .parse::<Scheme>()
            .unwrap()
            .distribution(&[2])
            .unwrap();
        assert_eq!(
            d,
            Distribution::Normal {
                mean: 0.0,
                std: 0.0
            }
        );
        assert!(matches!(d, Distribution::Normal { std, .. } if std.is_sign_positive()));
    }

    #[test]
    fn fan_schemes_reject_vectors_and_zero_fans() {
        let he: Scheme = "he".parse().unwrap();
        assert!(matches!(
            he.distribution(&[10]),
            Err(Error::FansUndefined { .. })
        ));
        assert!(he.distribution(&[10, 0]).is_err());
        assert!(
            "normal"
                .parse::<Scheme>()
                .unwrap()
                .distribution(&[10])
                .is_ok()
        );
    }
}
