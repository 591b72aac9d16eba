//! Signal propagation through a deep network at initialization, for `weight-init probe`: the
//! standard deviation of the activations after every layer and the gradient norm of every
//! weight, for one or more schemes. It shows why He and Xavier initialization exist.
//!
//! # The network
//!
//! `depth` square layers of `width` units, no biases. Layer `i` (1-based) has the weight
//! `W_i` of shape `(width, width)`, named `layer.{i}.weight` ([`weight_name`]) and drawn by the
//! library with the scheme under test, so its stream follows from its name as for any other
//! tensor. The input `X` is a `(batch, width)` tensor named `probe.input` ([`INPUT_NAME`]),
//! N(0, 1), from the same generator on its own stream: every scheme sees the same input. With
//! `φ` the activation, applied after every layer (the last one too):
//!
//! ```text
//! h_0 = X,    z_i = h_{i-1} W_iᵀ,    h_i = φ(z_i),    i = 1 ..= depth
//! ```
//!
//! The reported std of layer `i` is the population standard deviation of all `batch · width`
//! entries of `h_i`, accumulated in f64.
//!
//! # The backward pass
//!
//! One backward pass of the loss `L = 1/(2B) Σ_{b,j} h_depth[b, j]²` (`B` = batch), the mean
//! over the batch of half the squared output norm:
//!
//! ```text
//! G_depth = ∂L/∂h_depth = h_depth / B
//! δ_i = ∂L/∂z_i = G_i ⊙ φ'(z_i),    ∂L/∂W_i = δ_iᵀ h_{i-1},    G_{i-1} = δ_i W_i
//! ```
//!
//! and the reported gradient norm of layer `i` is the Frobenius norm `‖∂L/∂W_i‖_F`.
//!
//! # What to expect
//!
//! With zero-mean weights of variance `σ_w²` and fan-in `n = width`, each entry of `z_i` is,
//! given `h_{i-1}`, exactly Gaussian for Gaussian weights, with variance `n σ_w² q_{i-1}` where
//! `q = E[h²]`. For ReLU, `E[relu(z)²] = Var(z)/2`, so `q_i = (n σ_w² / 2) q_{i-1}`:
//!
//! - plain N(0, 1), `σ_w² = 1`: the std grows by `sqrt(n/2)` per layer (16 for `n = 512`)
//!   and overflows f32 (about 3.4e38, 2^128) after roughly `128 / log2(sqrt(n/2))` layers;
//! - He, `σ_w² = 2/n`: the std stays constant;
//! - Xavier, `σ_w² = 2/(n + n) = 1/n`: the std shrinks by `1/sqrt(2)` per layer.
//!
//! For tanh, `q_i = E[tanh²(sqrt(g² q_{i-1}) Z)]` with Xavier gain `g`: at `g = 1` the std is
//! about 0.63 after one layer and then decays like `1/sqrt(2i)` (about 0.1 after fifty
//! layers); at PyTorch's tanh gain `g = 5/3` it settles near the fixed point 0.65.
//!
//! ReLU commutes with positive scaling, so for ReLU the schemes of one distribution differ
//! only by a factor: weights `c` times larger make `h_i` `c^i` times larger and `∂L/∂W_i`
//! `c^(2 depth - 1)` times larger (`c^depth` from the output in the loss, `c^(depth - i)` on
//! the way back, `c^(i - 1)` from `h_{i-1}`). Their gradients have one profile over the
//! layers, at scales `(n σ_w² / 2)^(depth - 1/2)` apart: the explosion or vanishing is in
//! that scale. The profile itself is not flat: `δ_i` is correlated with the `W_i` that made
//! `h_i`, so each layer on the way back adds about one layer's worth of `‖h‖²` to `‖δ‖²`,
//! and `‖∂L/∂W_i‖` grows roughly as `sqrt(depth - i + 1)` towards the input; sample
//! correlations within the batch shape it further.
//!
//! # Where it runs
//!
//! The weights and the input come from an [`Engine`], so from the GPU when one is chosen, with
//! the values of the CPU path. The forward and backward passes run on the CPU: f32 matrix
//! products by `matrixmultiply`'s `sgemm`, split into row blocks over rayon's thread pool, and
//! statistics in f64. A layer whose activations hold an infinity or a NaN stops the forward
//! pass, and is reported as an [`Overflow`] rather than printed as `inf`.

mod table;

use rayon::prelude::*;
use serde::Serialize;

use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::scheme::{Nonlinearity, Scheme};
use crate::spec::TensorSpec;

pub use table::{activation_table, gradient_table};

/// The name of the input tensor, whose stream the input's values come from.
pub const INPUT_NAME: &str = "probe.input";

/// SELU's scale λ (Klambauer et al., 2017, "Self-Normalizing Neural Networks", NeurIPS,
/// <https://arxiv.org/abs/1706.02515>, eq. 14).
const SELU_SCALE: f32 = 1.050_701;

/// SELU's α (the same paper, eq. 14).
const SELU_ALPHA: f32 = 1.673_263_2;

/// The name of layer `layer`'s weight (1-based): `layer.{layer}.weight`.
pub fn weight_name(layer: usize) -> String {
    format!("layer.{layer}.weight")
}

/// What to probe: the network's size, its activation and the seed of weights and input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeConfig {
    /// Layers, at least 1.
    pub depth: usize,
    /// Units per layer (fan-in and fan-out of every weight), at least 1.
    pub width: usize,
    /// Input rows pushed through together, at least 1.
    pub batch: usize,
    /// The activation `φ` after every layer.
    pub activation: Nonlinearity,
    /// The seed of the weights and of the input.
    pub seed: u64,
}

impl Default for ProbeConfig {
    /// 50 layers of width 512, a batch of 256, ReLU, seed 0.
    fn default() -> Self {
        Self {
            depth: 50,
            width: 512,
            batch: 256,
            activation: Nonlinearity::Relu,
            seed: 0,
        }
    }
}

impl ProbeConfig {
    /// Checks the sizes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if the depth, width or batch is 0; [`Error::TooLarge`] if
    /// the weights or the activations kept for the backward pass have more elements than
    /// `usize` can count.
    pub fn validate(&self) -> Result<()> {
        for (what, value) in [
            ("depth", self.depth),
            ("width", self.width),
            ("batch", self.batch),
        ] {
            if value == 0 {
                return Err(Error::invalid(what, "0; it must be at least 1"));
            }
        }
        let elems = |a: usize, b: usize, what: &'static str| {
            a.checked_mul(b)
                .and_then(|n| n.checked_mul(self.depth + 1))
                .ok_or_else(|| Error::TooLarge {
                    what,
                    value: format!("depth {} x width {} x {}", self.depth, self.width, b),
                    limit: usize::MAX.to_string(),
                })
        };
        elems(self.width, self.width, "probe weights")?;
        elems(self.batch, self.width, "probe activations")?;
        Ok(())
    }
}

/// Parses a comma-separated list of schemes, such as `normal,he,xavier(gain=5/3)`: commas
/// inside parentheses belong to a scheme's parameters. Each entry keeps its text as a label.
///
/// # Errors
///
/// [`Error::InvalidArgument`] for an empty list or entry, unbalanced parentheses, a repeated
/// entry, or a scheme [`Scheme`]'s parser rejects.
pub fn parse_schemes(text: &str) -> Result<Vec<(String, Scheme)>> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        if depth < 0 {
            break;
        }
    }
    if depth != 0 {
        return Err(Error::invalid(
            "scheme",
            format!("{text:?} has unbalanced parentheses"),
        ));
    }
    parts.push(&text[start..]);

    let mut schemes: Vec<(String, Scheme)> = Vec::new();
    for part in parts {
        let label = part.trim();
        if label.is_empty() {
            return Err(Error::invalid(
                "scheme",
                format!("{text:?} has an empty entry; give names such as normal,he,xavier"),
            ));
        }
        if schemes.iter().any(|(l, _)| l == label) {
            return Err(Error::invalid(
                "scheme",
                format!("{label:?} appears twice in {text:?}"),
            ));
        }
        schemes.push((label.to_string(), label.parse()?));
    }
    Ok(schemes)
}

/// Which non-finite value a layer produced first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NonFinite {
    /// An infinity (some value passed f32's largest, about 3.4e38).
    Inf,
    /// A NaN without an infinity in the same layer (such as ∞ - ∞ inside a matrix product).
    Nan,
}

/// The first layer whose values are not all finite; later layers are not computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Overflow {
    /// The layer, 1-based.
    pub layer: usize,
    /// What it held.
    pub value: NonFinite,
}

/// One scheme's run through the network.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SchemeProbe {
    /// The scheme as the user wrote it.
    pub label: String,
    /// The scheme with all its parameters.
    pub scheme: String,
    /// Std of the activations: entry 0 for the input, entry `i` after layer `i`; `None` from
    /// the overflowing layer on.
    pub activation_std: Vec<Option<f64>>,
    /// Where the forward pass overflowed, if it did.
    pub overflow: Option<Overflow>,
    /// `‖∂L/∂W_i‖_F` at entry `i - 1`; all `None` when the forward pass overflowed, and
    /// `None` from the backward pass's overflowing layer down.
    pub grad_norm: Vec<Option<f64>>,
    /// Where the backward pass overflowed (the highest layer whose gradient is not finite).
    pub grad_overflow: Option<Overflow>,
}

/// The probe of several schemes on one network, input and seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// Layers.
    pub depth: usize,
    /// Units per layer.
    pub width: usize,
    /// Input rows.
    pub batch: usize,
    /// The activation.
    pub activation: String,
    /// The seed of weights and input.
    pub seed: u64,
    /// Where the weights and the input were generated.
    pub weights_on: String,
    /// The loss of the backward pass.
    pub loss: &'static str,
    /// One run per scheme, in the order given.
    pub schemes: Vec<SchemeProbe>,
}

/// The loss of the backward pass, as [`ProbeReport::loss`] states it.
pub const LOSS: &str = "L = 1/(2B) sum over batch and units of h_depth^2";

/// Probes every scheme of `schemes` (`(label, scheme)` pairs, as [`parse_schemes`] makes
/// them) on the network of `config`, with weights and input from `engine`.
///
/// # Errors
///
/// Those of [`ProbeConfig::validate`]; [`Error::InvalidArgument`] for no schemes; those of
/// [`TensorSpec::plan`] and [`Engine::fill`].
pub fn run(
    config: &ProbeConfig,
    schemes: &[(String, Scheme)],
    engine: &Engine,
) -> Result<ProbeReport> {
    config.validate()?;
    if schemes.is_empty() {
        return Err(Error::invalid(
            "scheme",
            "no schemes given; need at least one",
        ));
    }
    // Plan everything first, so that a bad scheme fails before any work.
    let shape = [config.width as u64, config.width as u64];
    let plans = schemes
        .iter()
        .map(|(_, scheme)| {
            (1..=config.depth)
                .map(|i| TensorSpec::new(weight_name(i), shape.to_vec(), *scheme).plan(config.seed))
                .collect::<Result<Vec<_>>>()
        })
        .collect::<Result<Vec<_>>>()?;
    let input_spec = TensorSpec::new(
        INPUT_NAME,
        vec![config.batch as u64, config.width as u64],
        Scheme::default(),
    );
    let input = engine.fill(&input_spec.plan(config.seed)?)?;

    let mut runs = Vec::with_capacity(schemes.len());
    for ((label, scheme), plans) in schemes.iter().zip(plans) {
        log::debug!("probe: {label} on {} layers", config.depth);
        let weights = plans
            .iter()
            .map(|plan| engine.fill(plan))
            .collect::<Result<Vec<_>>>()?;
        let net = Network {
            width: config.width,
            batch: config.batch,
            activation: config.activation,
        };
        let mut probe = net.probe(&input, &weights);
        probe.label = label.clone();
        probe.scheme = scheme.to_string();
        runs.push(probe);
    }
    Ok(ProbeReport {
        depth: config.depth,
        width: config.width,
        batch: config.batch,
        activation: config.activation.to_string(),
        seed: config.seed,
        weights_on: engine.to_string(),
        loss: LOSS,
        schemes: runs,
    })
}

/// Elements per partial sum of [`ordered_sum`].
const SUM_CHUNK: usize = 1 << 14;

/// The sum of `term(v)` over `values` in f64, the same to the last bit whatever the thread
/// count: fixed chunks are summed in parallel, then their sums in order (a plain parallel
/// sum adds in an order that depends on scheduling, so its last digits vary from run to run).
fn ordered_sum(values: &[f32], term: impl Fn(f32) -> f64 + Sync) -> f64 {
    let partial: Vec<f64> = values
        .par_chunks(SUM_CHUNK)
        .map(|chunk| chunk.iter().map(|&v| term(v)).sum::<f64>())
        .collect();
    partial.iter().sum()
}

/// The population standard deviation of `values`, in f64 (two passes: mean, then squares).
pub fn std_dev(values: &[f32]) -> f64 {
    let n = values.len() as f64;
    let mean = ordered_sum(values, f64::from) / n;
    let squares = ordered_sum(values, |v| (f64::from(v) - mean).powi(2));
    (squares / n).sqrt()
}

/// The Frobenius norm of `values`: the square root of the sum of squares, in f64.
pub fn frobenius_norm(values: &[f32]) -> f64 {
    ordered_sum(values, |v| f64::from(v).powi(2)).sqrt()
}

/// The first non-finite value of `values`, if any: an infinity wins over a NaN.
fn non_finite(values: &[f32]) -> Option<NonFinite> {
    if values.par_iter().any(|v| v.is_infinite()) {
        Some(NonFinite::Inf)
    } else if values.par_iter().any(|v| v.is_nan()) {
        Some(NonFinite::Nan)
    } else {
        None
    }
}

/// `φ(x)`.
fn activate(activation: Nonlinearity, x: f32) -> f32 {
    match activation {
        Nonlinearity::Linear => x,
        Nonlinearity::Relu => x.max(0.0),
        Nonlinearity::LeakyRelu { negative_slope } => {
            if x >= 0.0 {
                x
            } else {
                negative_slope as f32 * x
            }
        }
        Nonlinearity::Tanh => x.tanh(),
        Nonlinearity::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Nonlinearity::Selu => {
            if x > 0.0 {
                SELU_SCALE * x
            } else {
                SELU_SCALE * SELU_ALPHA * x.exp_m1()
            }
        }
    }
}

/// `φ'(z)` from the output `h = φ(z)`, which the backward pass keeps instead of `z`: every
/// activation here is monotonic, so `h` determines the branch (for leaky ReLU with a positive
/// slope, and for SELU, `h` has the sign of `z`).
fn derivative_from_output(activation: Nonlinearity, h: f32) -> f32 {
    match activation {
        Nonlinearity::Linear => 1.0,
        Nonlinearity::Relu => f32::from(u8::from(h > 0.0)),
        Nonlinearity::LeakyRelu { negative_slope } => {
            if h >= 0.0 {
                1.0
            } else {
                negative_slope as f32
            }
        }
        Nonlinearity::Tanh => 1.0 - h * h,
        Nonlinearity::Sigmoid => h * (1.0 - h),
        // d/dz λα(e^z - 1) = λα e^z = h + λα.
        Nonlinearity::Selu => {
            if h > 0.0 {
                SELU_SCALE
            } else {
                h + SELU_SCALE * SELU_ALPHA
            }
        }
    }
}

/// A row-major matrix view: `rows x cols` elements at `data[r * row_stride + c * col_stride]`.
#[derive(Clone, Copy)]
struct View<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

impl<'a> View<'a> {
    /// A row-major `rows x cols` matrix.
    fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self {
            data,
            rows,
            cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose, sharing the data.
    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }
}

/// Rows of the product per rayon task: enough work per `sgemm` call to amortize its packing.
const ROWS_PER_TASK: usize = 16;

/// `a · b` as a new row-major matrix, in f32, computed in blocks of rows on rayon's pool.
///
/// # Panics
///
/// If the inner dimensions differ or a view reaches past its data (broken internal
/// invariants: every view here is built from a matrix's own shape).
fn matmul(a: View<'_>, b: View<'_>) -> Vec<f32> {
    assert_eq!(a.cols, b.rows, "inner dimensions of a matrix product agree");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let last = |v: View<'_>| (v.rows - 1) * v.row_stride + (v.cols - 1) * v.col_stride;
    assert!(
        m * k * n == 0 || (last(a) < a.data.len() && last(b) < b.data.len()),
        "matrix views lie inside their data"
    );
    let mut c = vec![0f32; m * n];
    if m * n == 0 {
        return c;
    }
    c.par_chunks_mut(ROWS_PER_TASK * n)
        .enumerate()
        .for_each(|(task, block)| {
            let first_row = task * ROWS_PER_TASK;
            let rows = block.len() / n;
            // SAFETY: the assertions above put every element sgemm reads, rows
            // `first_row .. first_row + rows` of `a` and all of `b`, inside their slices; the
            // output block holds exactly `rows * n` elements with strides (n, 1), which do not
            // alias; β = 0 means the block's previous contents are not read.
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    k,
                    n,
                    1.0,
                    a.data.as_ptr().add(first_row * a.row_stride),
                    a.row_stride as isize,
                    a.col_stride as isize,
                    b.data.as_ptr(),
                    b.row_stride as isize,
                    b.col_stride as isize,
                    0.0,
                    block.as_mut_ptr(),
                    n as isize,
                    1,
                );
            }
        });
    c
}

/// The network's shape and activation, for the passes.
#[derive(Debug, Clone, Copy)]
struct Network {
    width: usize,
    batch: usize,
    activation: Nonlinearity,
}

impl Network {
    /// `h_1 ..= h_d`, or up to the first layer whose `z_i` or `h_i` is not all finite and
    /// what it held. `z_i` is checked before the activation, which may hide a NaN or an
    /// infinity (`relu(NaN)` is 0 with `f32::max`, `tanh(±∞)` is ±1).
    fn forward(&self, input: &[f32], weights: &[Vec<f32>]) -> (Vec<Vec<f32>>, Option<Overflow>) {
        let mut layers: Vec<Vec<f32>> = Vec::with_capacity(weights.len());
        for (i, w) in weights.iter().enumerate() {
            let h_prev = layers.last().map_or(input, Vec::as_slice);
            let w = View::new(w, self.width, self.width);
            let mut h = matmul(View::new(h_prev, self.batch, self.width), w.t());
            let z_bad = non_finite(&h);
            h.par_iter_mut()
                .for_each(|v| *v = activate(self.activation, *v));
            if let Some(value) = z_bad.or_else(|| non_finite(&h)) {
                return (
                    layers,
                    Some(Overflow {
                        layer: i + 1,
                        value,
                    }),
                );
            }
            layers.push(h);
        }
        (layers, None)
    }

    /// `∂L/∂W_i` for every layer, given all of `layers` (`h_1 ..= h_d`, all finite).
    fn backward(&self, input: &[f32], weights: &[Vec<f32>], layers: &[Vec<f32>]) -> Vec<Vec<f32>> {
        let top = layers.last().expect("a network has at least one layer");
        let b = self.batch as f32;
        let mut grad_h: Vec<f32> = top.par_iter().map(|&h| h / b).collect();
        let mut grads = vec![Vec::new(); weights.len()];
        for i in (0..weights.len()).rev() {
            let delta: Vec<f32> = grad_h
                .par_iter()
                .zip(&layers[i])
                .map(|(&g, &h)| g * derivative_from_output(self.activation, h))
                .collect();
            let h_prev = if i == 0 { input } else { &layers[i - 1] };
            let delta_view = View::new(&delta, self.batch, self.width);
            grads[i] = matmul(delta_view.t(), View::new(h_prev, self.batch, self.width));
            if i > 0 {
                grad_h = matmul(delta_view, View::new(&weights[i], self.width, self.width));
            }
        }
        grads
    }

    /// Both passes and their statistics; the label and scheme are left empty.
    fn probe(&self, input: &[f32], weights: &[Vec<f32>]) -> SchemeProbe {
        let depth = weights.len();
        let (layers, overflow) = self.forward(input, weights);
        let mut activation_std = vec![None; depth + 1];
        activation_std[0] = Some(std_dev(input));
        for (i, h) in layers.iter().enumerate() {
            activation_std[i + 1] = Some(std_dev(h));
        }

        let mut grad_norm = vec![None; depth];
        let mut grad_overflow = None;
        if overflow.is_none() {
            let grads = self.backward(input, weights, &layers);
            // From the top down: once a gradient is not finite, those below it derive from it.
            for (i, g) in grads.iter().enumerate().rev() {
                if let Some(value) = non_finite(g) {
                    grad_overflow = Some(Overflow {
                        layer: i + 1,
                        value,
                    });
                    break;
                }
                grad_norm[i] = Some(frobenius_norm(g));
            }
        }
        SchemeProbe {
            label: String::new(),
            scheme: String::new(),
            activation_std,
            overflow,
            grad_norm,
            grad_overflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random matrix with entries in [-1, 1), independent of the
    /// library's generator.
    fn matrix(len: usize, salt: u32) -> Vec<f32> {
        (0..len as u32)
            .map(|i| {
                let x = (i ^ salt).wrapping_mul(0x9E37_79B9).rotate_left(13) ^ salt;
                (x >> 8) as f32 / (1u32 << 23) as f32 - 1.0
            })
            .collect()
    }

    #[test]
    fn matmul_matches_the_textbook_triple_loop_for_every_transpose() {
        let (m, k, n) = (37, 11, 23);
        let a = matrix(m * k, 1);
        let b = matrix(k * n, 2);
        let naive = |a_at: &dyn Fn(usize, usize) -> f32, b_at: &dyn Fn(usize, usize) -> f32| {
            let mut c = vec![0f32; m * n];
            for r in 0..m {
                for col in 0..n {
                    c[r * n + col] = (0..k).map(|x| a_at(r, x) * b_at(x, col)).sum();
                }
            }
            c
        };
        let close = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(p, q)| (p - q).abs() < 1e-5);

        let c = matmul(View::new(&a, m, k), View::new(&b, k, n));
        assert!(close(
            &c,
            &naive(&|r, x| a[r * k + x], &|x, col| b[x * n + col])
        ));
        // aᵀ stored as (k, m), bᵀ stored as (n, k).
        let c = matmul(View::new(&a, k, m).t(), View::new(&b, n, k).t());
        assert!(close(
            &c,
            &naive(&|r, x| a[x * m + r], &|x, col| b[col * k + x])
        ));
    }

    #[test]
    fn derivatives_from_outputs_match_difference_quotients() {
        for activation in [
            Nonlinearity::Linear,
            Nonlinearity::Relu,
            Nonlinearity::LeakyRelu {
                negative_slope: 0.1,
            },
            Nonlinearity::Tanh,
            Nonlinearity::Sigmoid,
            Nonlinearity::Selu,
        ] {
            for z in [-2.0f64, -0.3, 0.4, 1.7] {
                let eps = 1e-3;
                let f = |x: f64| f64::from(activate(activation, x as f32));
                let quotient = (f(z + eps) - f(z - eps)) / (2.0 * eps);
                let h = activate(activation, z as f32);
                let d = f64::from(derivative_from_output(activation, h));
                // f32 rounding of f, divided by 2 eps: about 1e-7 / 1e-3.
                assert!(
                    (d - quotient).abs() < 1e-3,
                    "{activation} at {z}: {d} vs {quotient}"
                );
            }
        }
    }

    #[test]
    fn the_backward_pass_matches_central_differences_of_the_loss() {
        let net = Network {
            width: 4,
            batch: 3,
            activation: Nonlinearity::Tanh,
        };
        let input = matrix(net.batch * net.width, 7);
        let weights: Vec<Vec<f32>> = (0..3).map(|i| matrix(16, 100 + i)).collect();
        // The loss in f64 from an f32 forward pass, as the module defines it.
        let loss = |weights: &[Vec<f32>]| {
            let top = net.forward(&input, weights).0.pop().unwrap();
            top.iter().map(|&h| f64::from(h).powi(2)).sum::<f64>() / (2.0 * net.batch as f64)
        };
        let grads = net.backward(&input, &weights, &net.forward(&input, &weights).0);
        let eps = 1e-2f32;
        for (layer, grad) in grads.iter().enumerate() {
            for at in 0..16 {
                let mut plus = weights.clone();
                plus[layer][at] += eps;
                let mut minus = weights.clone();
                minus[layer][at] -= eps;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * f64::from(eps));
                // Truncation error O(eps^2) with O(1) third derivatives, plus f32 rounding of
                // the loss (about 1e-7) divided by 2 eps.
                let analytic = f64::from(grad[at]);
                assert!(
                    (analytic - numeric).abs() < 1e-3,
                    "layer {} element {at}: backward {analytic}, difference quotient {numeric}",
                    layer + 1
                );
            }
        }
    }

    #[test]
    fn std_and_norm_are_the_textbook_formulas() {
        let v = [1.0f32, 2.0, 3.0, 4.0];
        assert!((std_dev(&v) - 1.25f64.sqrt()).abs() < 1e-12);
        assert!((frobenius_norm(&v) - 30f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn scheme_lists_split_at_top_level_commas_only() {
        let schemes = parse_schemes("normal, he,normal(mean=0, std=0.5)").unwrap();
        let labels: Vec<&str> = schemes.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(labels, ["normal", "he", "normal(mean=0, std=0.5)"]);
        assert_eq!(
            schemes[2].1,
            Scheme::Normal {
                mean: 0.0,
                std: 0.5
            }
        );
        for bad in ["", "he,", "he,he", "normal(std=1", "normal)(", "bogus"] {
            let e = parse_schemes(bad).unwrap_err();
            assert!(e.to_string().starts_with("invalid scheme"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn zero_sizes_are_refused_by_name() {
        for (config, what) in [
            (
                ProbeConfig {
                    depth: 0,
                    ..ProbeConfig::default()
                },
                "depth",
            ),
            (
                ProbeConfig {
                    width: 0,
                    ..ProbeConfig::default()
                },
                "width",
            ),
            (
                ProbeConfig {
                    batch: 0,
                    ..ProbeConfig::default()
                },
                "batch",
            ),
        ] {
            let e = config.validate().unwrap_err().to_string();
            assert!(e.starts_with(&format!("invalid {what}: 0")), "{e}");
        }
        let huge = ProbeConfig {
            width: usize::MAX / 2,
            ..ProbeConfig::default()
        };
        assert!(matches!(huge.validate(), Err(Error::TooLarge { .. })));
    }
}
