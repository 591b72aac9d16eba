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
//! | `trunc-normal(mean, std, a, b)` | N(mean, std^2) on [a, b] | PyTorch's `trunc_normal_` |
//! | `he-normal` / `kaiming-normal` | N(0, std^2) | std = gain / sqrt(fan) |
//! | `he-uniform` / `kaiming-uniform` | U(-b, b) | b = gain sqrt(3 / fan) |
//! | `xavier-normal` / `glorot-normal` | N(0, std^2) | std = gain sqrt(2 / (fan_in + fan_out)) |
//! | `xavier-uniform` / `glorot-uniform` | U(-b, b) | b = gain sqrt(6 / (fan_in + fan_out)) |
//! | `lecun-normal` | N(0, std^2) | std = 1 / sqrt(fan_in) |
//! | `lecun-uniform` | U(-b, b) | b = sqrt(3 / fan_in) |
//! | `zeros`, `ones`, `constant(value)` | constant | - |
//! | `variance-scaling`, `jax-*` | JAX's forms | [`jax`] |
//! | `orthogonal`, `sparse`, `eye`, `dirac`, `jax-orthogonal`, `jax-delta-orthogonal` | whole-tensor | [`crate::structured`] |
//!
//! He schemes take `mode` (`fan_in`, the default, or `fan_out`) and `nonlinearity` (default
//! `relu`, i.e. PyTorch's `kaiming_*_` with its default `a = 0`); Xavier schemes take `gain`
//! (default 1); He, Xavier and LeCun take a [`FanLayout`] (`groups`, `transposed`). The He,
//! Xavier and LeCun normals here are the plain normal of PyTorch; JAX's `he_normal`,
//! `glorot_normal` and `lecun_normal`, with their truncated normal, are `jax-he-normal`,
//! `jax-glorot-normal` and `jax-lecun-normal`.
//!
//! [^torch-init]: PyTorch, `torch/nn/init.py`,
//!     <https://github.com/pytorch/pytorch/blob/v2.5.0/torch/nn/init.py>.

use std::fmt;
use std::str::FromStr;

pub mod jax;

pub use jax::{Axes, FanAxes, VarianceDistribution, VarianceMode};

use crate::error::{Error, Result};
use crate::structured::StructuredScheme;
use crate::transform::{Distribution, MIN_TRUNCATION_MASS, Truncation};

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

/// Every nonlinearity name [`Nonlinearity`] parses: PyTorch's `calculate_gain` names, and
/// `identity` (which `calculate_gain`'s documentation lists with `linear` but its code
/// rejects).
pub const NONLINEARITY_NAMES: [&str; 13] = [
    "linear",
    "identity",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "selu",
];

impl FromStr for Nonlinearity {
    type Err = Error;

    /// One of [`NONLINEARITY_NAMES`] (case-insensitive, `-` for `_`); `leaky_relu` has
    /// `calculate_gain`'s default slope 0.01.
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
                        "unknown nonlinearity {s:?}; expected one of {}",
                        NONLINEARITY_NAMES.join(", ")
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
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// He / Kaiming uniform: U(-b, b), b = gain sqrt(3 / fan).
    HeUniform {
        /// Which fan.
        mode: FanMode,
        /// The nonlinearity whose gain scales the bound.
        nonlinearity: Nonlinearity,
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// Xavier / Glorot normal: N(0, gain^2 2 / (fan_in + fan_out)).
    XavierNormal {
        /// Gain.
        gain: f64,
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// Xavier / Glorot uniform: U(-b, b), b = gain sqrt(6 / (fan_in + fan_out)).
    XavierUniform {
        /// Gain.
        gain: f64,
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// LeCun normal: N(0, 1 / fan_in).
    LecunNormal {
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// LeCun uniform: U(-b, b), b = sqrt(3 / fan_in).
    LecunUniform {
        /// Grouped or transposed convolution layout.
        layout: FanLayout,
    },
    /// Every element equals `value` (`zeros`, `ones`, `constant`).
    Constant {
        /// The value.
        value: f64,
    },
    /// PyTorch's `trunc_normal_`: N(mean, std^2) conditioned on the absolute bounds
    /// `[low, high]` (PyTorch's `a` and `b`; defaults -2 and 2).
    TruncatedNormal {
        /// Mean of the untruncated normal.
        mean: f64,
        /// Its standard deviation (not the std of the result).
        std: f64,
        /// Lower bound `a`, may be -inf.
        low: f64,
        /// Upper bound `b`, may be +inf.
        high: f64,
    },
    /// JAX's `truncated_normal(stddev, lower, upper)`: `stddev z`, `z` standard normal
    /// conditioned on `[lower, upper]`, bounds in units of `stddev` (defaults 0.01, -2, 2).
    JaxTruncatedNormal {
        /// Scale of the standard truncated normal.
        stddev: f64,
        /// Lower bound in units of `stddev`.
        lower: f64,
        /// Upper bound in units of `stddev`.
        upper: f64,
    },
    /// JAX's `normal(stddev)`: N(0, stddev^2), default stddev 0.01.
    JaxNormal {
        /// Standard deviation.
        stddev: f64,
    },
    /// JAX's `uniform(scale)`: U(0, scale), default scale 0.01.
    JaxUniform {
        /// Upper bound.
        scale: f64,
    },
    /// JAX's `variance_scaling` ([`jax`]); JAX's glorot, he and lecun presets are this with
    /// a fixed scale, mode and distribution.
    VarianceScaling {
        /// Multiplies the variance.
        scale: f64,
        /// Which fan divides it.
        mode: VarianceMode,
        /// Normal, truncated normal or uniform.
        distribution: VarianceDistribution,
        /// Which axes are inputs, outputs and batch.
        axes: FanAxes,
    },
    /// A tensor computed as a whole rather than element by element: orthogonal, sparse,
    /// eye, dirac, delta-orthogonal ([`crate::structured`]).
    Structured(StructuredScheme),
}

/// How a convolution weight's dimensions 0 and 1 relate to its channels, for the fans of the
/// PyTorch schemes. The default is PyTorch's: `(out, in / groups, *kernel)` with
/// `fan_in = shape[1] * receptive` and `fan_out = shape[0] * receptive`.
///
/// With `groups = g`, each output channel sees `in / g` inputs and each input feeds `out / g`
/// outputs, so `fan_out = shape[0] / g * receptive`. `transposed` is the layout of
/// `ConvTranspose` weights, `(in, out / groups, *kernel)`: then `fan_in = shape[0] / g *
/// receptive` and `fan_out = shape[1] * receptive`. PyTorch itself ignores both (its
/// `_calculate_fan_in_and_fan_out` reads dims 0 and 1 as they are), which is what the
/// default keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanLayout {
    /// Convolution groups, >= 1.
    pub groups: u64,
    /// `(in, out / groups, *kernel)` instead of `(out, in / groups, *kernel)`.
    pub transposed: bool,
}

impl Default for FanLayout {
    fn default() -> Self {
        Self {
            groups: 1,
            transposed: false,
        }
    }
}

impl FanLayout {
    /// `(fan_in, fan_out)` of `shape` in this layout.
    ///
    /// # Errors
    ///
    /// As [`fans`]; [`Error::InvalidArgument`] if `groups` does not divide `shape[0]`.
    pub fn fans(&self, shape: &[u64], scheme: &str) -> Result<(u64, u64)> {
        let (fan_in, fan_out) = fans(shape, scheme)?;
        if *self == FanLayout::default() {
            return Ok((fan_in, fan_out));
        }
        if !shape[0].is_multiple_of(self.groups) {
            return Err(Error::invalid(
                "groups",
                format!(
                    "{} does not divide dimension 0 ({}) of shape {shape:?}",
                    self.groups, shape[0]
                ),
            ));
        }
        // shape[0] * receptive / groups, exact since groups divides shape[0].
        let per_group = fan_out / self.groups;
        Ok(if self.transposed {
            (per_group, fan_in)
        } else {
            (fan_in, per_group)
        })
    }
}

impl fmt::Display for FanLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.groups != 1 {
            write!(f, ", groups={}", self.groups)?;
        }
        if self.transposed {
            f.write_str(", transposed=true")?;
        }
        Ok(())
    }
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

/// A number, or a fraction of two (`5/3`), as f64.
fn parse_f64(key: &str, value: &str) -> Result<f64> {
    let number = |text: &str| text.trim().parse::<f64>().ok();
    let parsed = match value.split_once('/') {
        Some((num, den)) => number(num).zip(number(den)).map(|(n, d)| n / d),
        None => number(value),
    };
    let parsed = parsed.ok_or_else(|| {
        Error::invalid(
            "scheme parameter",
            format!("{key}={value:?} is not a number"),
        )
    })?;
    // `1e400` parses as infinity; only a spelled-out `inf` means it.
    if parsed.is_infinite() && !value.to_ascii_lowercase().contains("inf") {
        return Err(Error::invalid(
            "scheme parameter",
            format!("{key}={value:?} is beyond the range of f64"),
        ));
    }
    Ok(parsed)
}

fn parse_u64(key: &str, value: &str) -> Result<u64> {
    value.trim().parse::<u64>().map_err(|_| {
        Error::invalid(
            "scheme parameter",
            format!("{key}={value:?} is not a non-negative integer"),
        )
    })
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    match normalize(value).as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(Error::invalid(
            "scheme parameter",
            format!("{key}={value:?} is not true or false (also accepted: 1, yes, 0, no)"),
        )),
    }
}

/// Every scheme name [`Scheme::from_parts`] accepts (aliases aside), for error messages.
pub const SCHEME_NAMES: &str = "normal, uniform, trunc-normal, he-normal, he-uniform, \
     xavier-normal, xavier-uniform, lecun-normal, lecun-uniform, zeros, ones, constant, \
     orthogonal, sparse, eye, dirac, variance-scaling, jax-normal, jax-uniform, \
     jax-truncated-normal, jax-glorot-normal, jax-glorot-uniform, jax-he-normal, \
     jax-he-uniform, jax-lecun-normal, jax-lecun-uniform, jax-orthogonal, \
     jax-delta-orthogonal";

fn jax_preset(scale: f64, mode: VarianceMode, distribution: VarianceDistribution) -> Scheme {
    Scheme::VarianceScaling {
        scale,
        mode,
        distribution,
        axes: FanAxes::default(),
    }
}

/// JAX's glorot, he (kaiming) and lecun presets of `variance_scaling`, under `jax-` names.
fn jax_preset_named(name: &str) -> Option<Scheme> {
    use VarianceDistribution::{TruncatedNormal, Uniform};
    use VarianceMode::{FanAvg, FanIn};
    Some(match name {
        "jax_glorot_normal" | "jax_xavier_normal" => jax_preset(1.0, FanAvg, TruncatedNormal),
        "jax_glorot_uniform" | "jax_xavier_uniform" => jax_preset(1.0, FanAvg, Uniform),
        "jax_he_normal" | "jax_kaiming_normal" => jax_preset(2.0, FanIn, TruncatedNormal),
        "jax_he_uniform" | "jax_kaiming_uniform" => jax_preset(2.0, FanIn, Uniform),
        "jax_lecun_normal" => jax_preset(1.0, FanIn, TruncatedNormal),
        "jax_lecun_uniform" => jax_preset(1.0, FanIn, Uniform),
        _ => return None,
    })
}

/// `Ok` for a finite `v`, else an error naming `what` and the value.
pub(crate) fn finite(what: &'static str, v: f64) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(what, format!("{v} is not a finite number")))
    }
}

fn non_negative(what: &'static str, v: f64) -> Result<()> {
    finite(what, v)?;
    if v < 0.0 {
        return Err(Error::invalid(
            what,
            format!("{v} is negative; {what} must be >= 0"),
        ));
    }
    Ok(())
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
            Scheme::LecunNormal { .. } => "lecun-normal",
            Scheme::LecunUniform { .. } => "lecun-uniform",
            Scheme::Constant { .. } => "constant",
            Scheme::TruncatedNormal { .. } => "trunc-normal",
            Scheme::JaxTruncatedNormal { .. } => "jax-truncated-normal",
            Scheme::JaxNormal { .. } => "jax-normal",
            Scheme::JaxUniform { .. } => "jax-uniform",
            Scheme::VarianceScaling { .. } => "variance-scaling",
            Scheme::Structured(s) => s.name(),
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
    /// use weight_init::scheme::{FanLayout, FanMode, Nonlinearity, Scheme};
    ///
    /// let he = Scheme::from_parts("kaiming-uniform", &[("mode", "fan_out"), ("nonlinearity", "tanh")])?;
    /// let layout = FanLayout::default();
    /// assert_eq!(he, Scheme::HeUniform { mode: FanMode::FanOut, nonlinearity: Nonlinearity::Tanh, layout });
    /// // Fractions are numbers too: PyTorch's tanh gain.
    /// let xavier = Scheme::from_parts("xavier", &[("gain", "5/3")])?;
    /// assert_eq!(xavier, Scheme::XavierNormal { gain: 5.0 / 3.0, layout });
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
                layout: FanLayout::default(),
            },
            "he_uniform" | "kaiming_uniform" => Scheme::HeUniform {
                mode: FanMode::FanIn,
                nonlinearity: KAIMING_DEFAULT,
                layout: FanLayout::default(),
            },
            "xavier" | "xavier_normal" | "glorot" | "glorot_normal" => Scheme::XavierNormal {
                gain: 1.0,
                layout: FanLayout::default(),
            },
            "xavier_uniform" | "glorot_uniform" => Scheme::XavierUniform {
                gain: 1.0,
                layout: FanLayout::default(),
            },
            "lecun" | "lecun_normal" => Scheme::LecunNormal {
                layout: FanLayout::default(),
            },
            "lecun_uniform" => Scheme::LecunUniform {
                layout: FanLayout::default(),
            },
            "zeros" | "zero" => Scheme::Constant { value: 0.0 },
            "ones" | "one" => Scheme::Constant { value: 1.0 },
            "constant" => Scheme::Constant { value: 0.0 },
            "trunc_normal" | "truncated_normal" => Scheme::TruncatedNormal {
                mean: 0.0,
                std: 1.0,
                low: -2.0,
                high: 2.0,
            },
            "jax_truncated_normal" => Scheme::JaxTruncatedNormal {
                stddev: 0.01,
                lower: -2.0,
                upper: 2.0,
            },
            "jax_normal" => Scheme::JaxNormal { stddev: 0.01 },
            "jax_uniform" => Scheme::JaxUniform { scale: 0.01 },
            "variance_scaling" => {
                let given = |k: &str| params.iter().any(|(key, _)| normalize(key) == k);
                if let Some(missing) = ["scale", "mode", "distribution"]
                    .into_iter()
                    .find(|k| !given(k))
                {
                    return Err(Error::invalid(
                        "scheme parameter",
                        format!(
                            "variance-scaling needs scale, mode and distribution, as JAX's \
                             does; {missing} is missing"
                        ),
                    ));
                }
                jax_preset(1.0, VarianceMode::FanIn, VarianceDistribution::Normal)
            }
            other => match jax_preset_named(other).or_else(|| StructuredScheme::named(other)) {
                Some(scheme) => scheme,
                None => {
                    return Err(Error::invalid(
                        "scheme",
                        format!("unknown scheme {name:?}; expected one of {SCHEME_NAMES}"),
                    ));
                }
            },
        };
        let preset =
            normalize(name).starts_with("jax_") && matches!(scheme, Scheme::VarianceScaling { .. });
        if preset
            && let Some((key, _)) = params
                .iter()
                .find(|(k, _)| ["scale", "mode", "distribution"].contains(&normalize(k).as_str()))
        {
            return Err(Error::invalid(
                "scheme parameter",
                format!(
                    "{name} fixes {key}; use variance-scaling(scale=..., mode=..., \
                     distribution=...) to choose it"
                ),
            ));
        }
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
                "a" if matches!(scheme, Scheme::HeNormal { .. } | Scheme::HeUniform { .. }) => {
                    "negative_slope"
                }
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
            (Scheme::XavierNormal { gain, .. } | Scheme::XavierUniform { gain, .. }, "gain") => {
                *gain = parse_f64(key, value)?
            }
            (Scheme::Constant { value: v }, "value" | "val") => *v = parse_f64(key, value)?,
            (scheme, "groups" | "transposed") if scheme.layout().is_some() => {
                let layout = scheme.layout_mut().expect("checked by the guard");
                if key == "groups" {
                    layout.groups = parse_u64(key, value)?;
                } else {
                    layout.transposed = parse_bool(key, value)?;
                }
            }
            (Scheme::TruncatedNormal { mean, .. }, "mean") => *mean = parse_f64(key, value)?,
            (Scheme::TruncatedNormal { std, .. }, "std") => *std = parse_f64(key, value)?,
            (Scheme::TruncatedNormal { low, .. }, "low" | "a") => *low = parse_f64(key, value)?,
            (Scheme::TruncatedNormal { high, .. }, "high" | "b") => *high = parse_f64(key, value)?,
            (
                Scheme::JaxTruncatedNormal { stddev, .. } | Scheme::JaxNormal { stddev },
                "stddev",
            ) => *stddev = parse_f64(key, value)?,
            (Scheme::JaxTruncatedNormal { lower, .. }, "lower") => *lower = parse_f64(key, value)?,
            (Scheme::JaxTruncatedNormal { upper, .. }, "upper") => *upper = parse_f64(key, value)?,
            (Scheme::JaxUniform { scale }, "scale") => *scale = parse_f64(key, value)?,
            (Scheme::VarianceScaling { scale, .. }, "scale") => *scale = parse_f64(key, value)?,
            (Scheme::VarianceScaling { mode, .. }, "mode") => *mode = value.parse()?,
            (Scheme::VarianceScaling { distribution, .. }, "distribution") => {
                *distribution = value.parse()?
            }
            (Scheme::VarianceScaling { axes, .. }, "in_axis") => axes.in_axis = value.parse()?,
            (Scheme::VarianceScaling { axes, .. }, "out_axis") => axes.out_axis = value.parse()?,
            (Scheme::VarianceScaling { axes, .. }, "batch_axis") => {
                axes.batch_axis = value.parse()?
            }
            (Scheme::Structured(structured), key) if structured.accepts(key) => {
                structured.set(key, value)?
            }
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
            Scheme::XavierNormal { gain, .. } | Scheme::XavierUniform { gain, .. } => {
                non_negative("gain", gain)?;
            }
            Scheme::LecunNormal { .. } | Scheme::LecunUniform { .. } => {}
            Scheme::Constant { value } => {
                finite("value", value)?;
                to_f32("value", value)?;
            }
            Scheme::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => {
                truncated(mean, std, low, high)?;
            }
            Scheme::JaxTruncatedNormal {
                stddev,
                lower,
                upper,
            } => {
                truncated(0.0, stddev, lower * stddev, upper * stddev)?;
            }
            Scheme::JaxNormal { stddev } => {
                non_negative("stddev", stddev)?;
                normal(0.0, stddev)?;
            }
            Scheme::JaxUniform { scale } => {
                non_negative("scale", scale)?;
                to_f32("scale", scale)?;
            }
            Scheme::VarianceScaling { scale, .. } => non_negative("scale", scale)?,
            Scheme::Structured(structured) => structured.validate()?,
        }
        if let Some(layout) = self.layout()
            && layout.groups == 0
        {
            return Err(Error::invalid(
                "groups",
                "0; groups must be >= 1".to_string(),
            ));
        }
        Ok(())
    }

    /// The convolution layout of a PyTorch fan-based scheme.
    pub fn layout(&self) -> Option<FanLayout> {
        let mut copy = *self;
        copy.layout_mut().map(|l| *l)
    }

    fn layout_mut(&mut self) -> Option<&mut FanLayout> {
        match self {
            Scheme::HeNormal { layout, .. }
            | Scheme::HeUniform { layout, .. }
            | Scheme::XavierNormal { layout, .. }
            | Scheme::XavierUniform { layout, .. }
            | Scheme::LecunNormal { layout }
            | Scheme::LecunUniform { layout } => Some(layout),
            _ => None,
        }
    }

    /// Checks the scheme's rules on the shape alone, which hold for zero-element tensors
    /// too: the rank a fan-based or whole-tensor scheme needs, JAX's axes, `groups` dividing
    /// its dimension, delta-orthogonal's `in <= out`. As in PyTorch, where `kaiming_*_`
    /// return for a zero-element tensor before computing fans while `xavier_*_`, `eye_`,
    /// `dirac_`, `orthogonal_` and `sparse_` check the rank first, the He schemes have no
    /// such rule. A zero fan is no error here: nothing is drawn (PyTorch's and JAX's
    /// initializers divide by it and raise).
    ///
    /// # Errors
    ///
    /// [`Error::FansUndefined`] or [`Error::InvalidArgument`] naming the rule and the shape.
    pub fn check_shape(&self, shape: &[u64]) -> Result<()> {
        match self {
            Scheme::Structured(structured) => structured.distribution(shape).map(|_| ()),
            Scheme::HeNormal { .. } | Scheme::HeUniform { .. } => Ok(()),
            Scheme::VarianceScaling { axes, .. } => axes.fans(shape, self.name()).map(|_| ()),
            _ => match self.layout() {
                Some(layout) => layout.fans(shape, self.name()).map(|_| ()),
                None => Ok(()),
            },
        }
    }

    /// Whether the scheme needs fans (and so a tensor of at least 2 dimensions).
    pub fn uses_fans(&self) -> bool {
        self.layout().is_some() || matches!(self, Scheme::VarianceScaling { .. })
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
        if let Scheme::Structured(structured) = self {
            return structured.distribution(shape).map(Distribution::Structured);
        }
        if shape.contains(&0) {
            // PyTorch: "Initializing zero-element tensors is a no-op". No element is drawn,
            // so no fan is needed, but the shape's rank must suit the scheme.
            self.check_shape(shape)?;
            return Ok(Distribution::Constant { value: 0.0 });
        }
        let layout = self.layout().unwrap_or_default();
        let fan = |mode: FanMode| -> Result<f64> {
            let (fan_in, fan_out) = layout.fans(shape, self.name())?;
            let fan = match mode {
                FanMode::FanIn => fan_in,
                FanMode::FanOut => fan_out,
            };
            positive_fan(fan, mode, shape)
        };
        let fan_sum = || -> Result<f64> {
            let (fan_in, fan_out) = layout.fans(shape, self.name())?;
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
            Scheme::HeNormal {
                mode, nonlinearity, ..
            } => normal(0.0, nonlinearity.gain() / fan(mode)?.sqrt())?,
            Scheme::HeUniform {
                mode, nonlinearity, ..
            } => symmetric(nonlinearity.gain() * (3.0 / fan(mode)?).sqrt())?,
            Scheme::XavierNormal { gain, .. } => normal(0.0, gain * (2.0 / fan_sum()?).sqrt())?,
            Scheme::XavierUniform { gain, .. } => symmetric(gain * (6.0 / fan_sum()?).sqrt())?,
            Scheme::LecunNormal { .. } => normal(0.0, 1.0 / fan(FanMode::FanIn)?.sqrt())?,
            Scheme::LecunUniform { .. } => symmetric((3.0 / fan(FanMode::FanIn)?).sqrt())?,
            Scheme::Constant { value } => Distribution::Constant {
                value: to_f32("value", value)?,
            },
            Scheme::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => truncated(mean, std, low, high)?,
            Scheme::JaxTruncatedNormal {
                stddev,
                lower,
                upper,
            } => truncated(0.0, stddev, lower * stddev, upper * stddev)?,
            Scheme::JaxNormal { stddev } => normal(0.0, stddev)?,
            Scheme::JaxUniform { scale } => Distribution::Uniform {
                low: 0.0,
                high: to_f32("scale", scale)?,
            },
            Scheme::VarianceScaling {
                scale,
                mode,
                distribution,
                axes,
            } => {
                let (fan_in, fan_out) = axes.fans(shape, self.name())?;
                let var = jax::variance(scale, mode, fan_in, fan_out);
                if !var.is_finite() {
                    return Err(Error::invalid(
                        "shape",
                        format!("the {mode} of shape {shape:?} is 0 ({axes})"),
                    ));
                }
                match distribution {
                    VarianceDistribution::Normal => normal(0.0, var.sqrt())?,
                    VarianceDistribution::Uniform => symmetric((3.0 * var).sqrt())?,
                    VarianceDistribution::TruncatedNormal => {
                        let std = var.sqrt() / jax::TRUNCATED_STD_CORRECTION;
                        truncated(0.0, std, -2.0 * std, 2.0 * std)?
                    }
                }
            }
            Scheme::Structured(_) => unreachable!("returned above"),
        };
        Ok(dist)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheme::Normal { mean, std } => write!(f, "normal(mean={mean}, std={std})"),
            Scheme::Uniform { low, high } => write!(f, "uniform(low={low}, high={high})"),
            Scheme::HeNormal {
                mode,
                nonlinearity,
                layout,
            }
            | Scheme::HeUniform {
                mode,
                nonlinearity,
                layout,
            } => {
                write!(
                    f,
                    "{}(mode={mode}, nonlinearity={nonlinearity}{layout})",
                    self.name()
                )
            }
            Scheme::XavierNormal { gain, layout } | Scheme::XavierUniform { gain, layout } => {
                write!(f, "{}(gain={gain}{layout})", self.name())
            }
            Scheme::LecunNormal { layout } | Scheme::LecunUniform { layout } => {
                let layout = layout.to_string();
                match layout.strip_prefix(", ") {
                    Some(params) => write!(f, "{}({params})", self.name()),
                    None => f.write_str(self.name()),
                }
            }
            Scheme::Constant { value } => write!(f, "constant(value={value})"),
            Scheme::TruncatedNormal {
                mean,
                std,
                low,
                high,
            } => write!(f, "trunc-normal(mean={mean}, std={std}, a={low}, b={high})"),
            Scheme::JaxTruncatedNormal {
                stddev,
                lower,
                upper,
            } => write!(
                f,
                "jax-truncated-normal(stddev={stddev}, lower={lower}, upper={upper})"
            ),
            Scheme::JaxNormal { stddev } => write!(f, "jax-normal(stddev={stddev})"),
            Scheme::JaxUniform { scale } => write!(f, "jax-uniform(scale={scale})"),
            Scheme::VarianceScaling {
                scale,
                mode,
                distribution,
                axes,
            } => write!(
                f,
                "variance-scaling(scale={scale}, mode={mode}, distribution={distribution}, {axes})"
            ),
            Scheme::Structured(structured) => write!(f, "{structured}"),
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
        let why = if s[open..].contains(')') {
            "has text after its closing ')'"
        } else {
            "has '(' without a closing ')'"
        };
        return Err(Error::invalid("scheme", format!("{s:?} {why}")));
    };
    let unbalanced = || Error::invalid("scheme", format!("{s:?} has unbalanced parentheses"));
    // Split at top-level commas only, so that tuples such as `in_axis=(0, 1)` stay whole.
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return Err(unbalanced());
                }
            }
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(unbalanced());
    }
    parts.push(&inner[start..]);
    if parts.len() > 1 && parts.iter().any(|p| p.trim().is_empty()) {
        return Err(Error::invalid(
            "scheme",
            format!("{s:?} has an empty parameter between commas"),
        ));
    }
    let params = parts
        .into_iter()
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

/// N(mean, std^2) truncated to `[low, high]`, checked: finite mean and std > 0, bounds not
/// NaN with `low < high` (either may be infinite), an interval probability of at least
/// [`MIN_TRUNCATION_MASS`], and every value within f32 range.
fn truncated(mean: f64, std: f64, low: f64, high: f64) -> Result<Distribution> {
    if !mean.is_finite() {
        return Err(Error::invalid(
            "mean",
            format!("{mean} is not a finite number"),
        ));
    }
    if !std.is_finite() || std <= 0.0 {
        return Err(Error::invalid(
            "std",
            format!("{std}; a truncated normal needs a finite std > 0"),
        ));
    }
    if low.is_nan() || high.is_nan() || low >= high {
        return Err(Error::invalid(
            "truncation bounds",
            format!("a = {low} must be below b = {high}"),
        ));
    }
    let bound = |what: &'static str, v: f64| {
        if v.is_infinite() {
            Ok(v as f32)
        } else {
            to_f32(what, v)
        }
    };
    let (mean32, std32) = (to_f32("mean", mean)?, to_f32("std", std)?);
    let (low32, high32) = (bound("a", low)?, bound("b", high)?);
    let z = |x: f32| (f64::from(x) - f64::from(mean32)) / f64::from(std32);
    let (_, _, mass) = Truncation::new_f64(z(low32), z(high32));
    if mass.is_nan() || mass < MIN_TRUNCATION_MASS {
        return Err(Error::invalid(
            "truncation bounds",
            format!(
                "[{low}, {high}] holds probability {mass:e} of N({mean}, {std}^2), below the \
                 {MIN_TRUNCATION_MASS:e} this generator can sample (bounds more than about \
                 11.5 std beyond the mean on one side)"
            ),
        ));
    }
    // |z| <= 13.2 for every CDF coordinate >= 2^-126; the clamp bounds the rest.
    let reach = mean.abs() + 13.2 * std;
    if reach >= f64::from(f32::MAX) && (low.is_infinite() || high.is_infinite()) {
        return Err(Error::invalid(
            "std",
            format!("mean {mean} and std {std} reach {reach:e}, past the largest f32"),
        ));
    }
    Ok(Distribution::TruncatedNormal {
        mean: mean32,
        std: std32,
        low: low32,
        high: high32,
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
        for name in NONLINEARITY_NAMES {
            assert!(name.parse::<Nonlinearity>().is_ok(), "{name}");
        }
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
                nonlinearity: KAIMING_DEFAULT,
                layout: FanLayout::default(),
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
        // Zero-element tensors are a no-op, as PyTorch's "Initializing zero-element tensors
        // is a no-op": no fan is needed. PyTorch's kaiming_*_ return before the rank check,
        // its xavier_*_ do not.
        assert!(he.distribution(&[10, 0]).is_ok());
        assert!(he.distribution(&[0]).is_ok());
        let xavier: Scheme = "xavier".parse().unwrap();
        assert!(xavier.distribution(&[0, 0]).is_ok());
        assert!(matches!(
            xavier.distribution(&[0]),
            Err(Error::FansUndefined { .. })
        ));
        assert!(
            "normal"
                .parse::<Scheme>()
                .unwrap()
                .distribution(&[10])
                .is_ok()
        );
    }
}
