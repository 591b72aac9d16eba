//! Schemes computed from the whole tensor rather than element by element: orthogonal,
//! sparse, eye, dirac and delta-orthogonal.
//!
//! Their values are still a pure function of (seed, stream, scheme, element index), but
//! element `i` depends on other elements' random draws (a QR factorization, a per-column
//! choice), so they are computed on the CPU whatever the device, and a slice is cut from the
//! whole. The last whole tensor computed is cached, so writing one in batches or shards
//! computes it once per process.
//!
//! | scheme | values |
//! |---|---|
//! | `orthogonal(gain)` | PyTorch `orthogonal_`: the tensor viewed as `(shape[0], rest)`; Q of the QR of a Gaussian matrix (transposed first when it is wide), columns multiplied by `sign(diag R)`, times `gain`. Rows (or columns, whichever are fewer) are orthonormal: `W W^T = gain^2 I` for a wide `W`. |
//! | `jax-orthogonal(scale, column_axis)` | JAX `orthogonal`: the same on the matrix whose columns run along `column_axis` and whose rows are all other axes. |
//! | `sparse(sparsity, std)` | PyTorch `sparse_` (2-D): N(0, std^2), then in every column exactly `ceil(sparsity rows)` rows set to 0, chosen uniformly at random. |
//! | `eye` | PyTorch `eye_` (2-D): 1 where row = column. |
//! | `dirac(groups)` | PyTorch `dirac_` (3-5-D `(out, in, *k)`): 1 at `[g opg + d, d, k1 // 2, ...]` for `d < min(opg, in)`, `opg = out / groups`. |
//! | `jax-delta-orthogonal(scale, column_axis)` | JAX `delta_orthogonal` (3-5-D `(*k, in, out)`, `in <= out`): an orthogonal `(in, out)` matrix at the spatial centre `(k - 1) // 2` (not `k // 2` as dirac: they differ for even k), zero elsewhere. |
//!
//! Random draws: the Gaussian matrix of orthogonal schemes is element `r n + c` of the
//! tensor's own N(0, 1) stream for row `r`, column `c` of the `m x n` matrix; sparse values
//! are the tensor's N(0, std^2) stream, and the zero positions come from the same Philox
//! stream at blocks from 2^63 on, which no tensor's values reach (a tensor has fewer than
//! 2^64 elements, hence fewer than 2^62 blocks).

use std::fmt;
use std::sync::{Arc, Mutex};

use nalgebra::DMatrix;

use crate::error::{Error, Result};
use crate::philox::philox4x32;
use crate::scheme::finite;
use crate::spec::FillPlan;
use crate::stream::counter;
use crate::transform::Distribution;

/// Most elements a QR-based scheme accepts: 2^26 (512 MiB of f64 while factorizing).
pub const MAX_QR_ELEMS: u64 = 1 << 26;

/// First Philox block of the sparse schemes' zero choices.
const MASK_FIRST_BLOCK: u64 = 1 << 63;

/// A scheme computed as a whole, before it meets a shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StructuredScheme {
    /// PyTorch `orthogonal_(gain)`.
    Orthogonal {
        /// Multiplies Q.
        gain: f64,
    },
    /// JAX `orthogonal(scale, column_axis)`.
    JaxOrthogonal {
        /// Multiplies Q.
        scale: f64,
        /// The axis along which the matrix's columns run, default -1.
        column_axis: i8,
    },
    /// PyTorch `sparse_(sparsity, std)`.
    Sparse {
        /// Fraction of each column set to zero, in [0, 1]; required.
        sparsity: f64,
        /// Std of the non-zero values, default 0.01.
        std: f64,
    },
    /// PyTorch `eye_`.
    Eye,
    /// PyTorch `dirac_(groups)`.
    Dirac {
        /// Groups, dividing `shape[0]`.
        groups: u64,
    },
    /// JAX `delta_orthogonal(scale, column_axis)`.
    JaxDeltaOrthogonal {
        /// Multiplies the orthogonal matrix.
        scale: f64,
        /// Column axis of the `(in, out)` matrix, default -1.
        column_axis: i8,
    },
}

/// A structured scheme resolved against a shape: everything needed to compute any element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Structure {
    /// Element `i` is entry `(r, c)` of a semi-orthogonal `(outer inner) x n` matrix times
    /// `scale`, with `i = (o n + c) inner + j` and `r = o inner + j`.
    Orthogonal {
        /// Product of the dimensions before the column axis.
        outer: u64,
        /// Length of the column axis.
        n: u64,
        /// Product of the dimensions after it.
        inner: u64,
        /// Multiplies the matrix.
        scale: f32,
    },
    /// `rows x cols`, N(0, std^2) with `zeros` zeros per column.
    Sparse {
        /// Rows.
        rows: u64,
        /// Columns.
        cols: u64,
        /// Zeros in each column.
        zeros: u64,
        /// Std of the rest.
        std: f32,
    },
    /// 1 where `i / cols == i % cols`.
    Eye {
        /// Rows.
        rows: u64,
        /// Columns.
        cols: u64,
    },
    /// 1 where `o % (out / groups) == c` at the spatial centre `k // 2`.
    Dirac {
        /// The shape, `ndim` of it used.
        shape: [u64; 5],
        /// Dimensions, 3 to 5.
        ndim: u8,
        /// Groups.
        groups: u64,
    },
    /// An orthogonal `(in, out)` matrix at the spatial centre `(k - 1) // 2`.
    DeltaOrthogonal {
        /// The shape, `ndim` of it used: `(*k, in, out)`.
        shape: [u64; 5],
        /// Dimensions, 3 to 5.
        ndim: u8,
        /// The `(in, out)` matrix's view, as [`Structure::Orthogonal`].
        matrix: (u64, u64, u64),
        /// Multiplies the matrix.
        scale: f32,
    },
}

impl Structure {
    /// `(mean, std)` of the tensor's elements: exact for eye and dirac (a fraction `p` of
    /// ones: `p` and `sqrt(p (1 - p))`), the root mean square for the orthogonal schemes (their
    /// squares sum to `scale^2` times the number of orthonormal vectors; mean near 0), and
    /// `std sqrt(1 - zeros / rows)` for sparse.
    pub fn mean_std(&self) -> (f64, f64) {
        let ones = |count: f64, numel: f64| {
            let p = if numel > 0.0 { count / numel } else { 0.0 };
            (p, (p * (1.0 - p)).sqrt())
        };
        match *self {
            Structure::Eye { rows, cols } => ones(rows.min(cols) as f64, (rows * cols) as f64),
            Structure::Dirac {
                shape,
                ndim,
                groups,
            } => {
                let numel: u64 = shape[..usize::from(ndim)].iter().product();
                let per_group = shape[0] / groups;
                ones((groups * per_group.min(shape[1])) as f64, numel as f64)
            }
            Structure::Orthogonal {
                outer,
                n,
                inner,
                scale,
            } => {
                let (m, n) = ((outer * inner) as f64, n as f64);
                (0.0, f64::from(scale).abs() / m.max(n).max(1.0).sqrt())
            }
            Structure::DeltaOrthogonal {
                shape, ndim, scale, ..
            } => {
                let ndim = usize::from(ndim);
                let numel: u64 = shape[..ndim].iter().product();
                let vectors = shape[ndim - 2] as f64;
                (
                    0.0,
                    f64::from(scale).abs() * (vectors / (numel as f64).max(1.0)).sqrt(),
                )
            }
            Structure::Sparse {
                rows, zeros, std, ..
            } => {
                let kept = if rows > 0 {
                    1.0 - zeros as f64 / rows as f64
                } else {
                    0.0
                };
                (0.0, f64::from(std) * kept.sqrt())
            }
        }
    }
}

impl StructuredScheme {
    /// The scheme's name.
    pub fn name(&self) -> &'static str {
        match self {
            StructuredScheme::Orthogonal { .. } => "orthogonal",
            StructuredScheme::JaxOrthogonal { .. } => "jax-orthogonal",
            StructuredScheme::Sparse { .. } => "sparse",
            StructuredScheme::Eye => "eye",
            StructuredScheme::Dirac { .. } => "dirac",
            StructuredScheme::JaxDeltaOrthogonal { .. } => "jax-delta-orthogonal",
        }
    }

    /// The scheme with its defaults for a normalized name (`_` for `-`), if it is one of
    /// these.
    pub(crate) fn named(name: &str) -> Option<crate::scheme::Scheme> {
        let s = match name {
            "orthogonal" => StructuredScheme::Orthogonal { gain: 1.0 },
            "jax_orthogonal" => StructuredScheme::JaxOrthogonal {
                scale: 1.0,
                column_axis: -1,
            },
            "sparse" => StructuredScheme::Sparse {
                sparsity: f64::NAN,
                std: 0.01,
            },
            "eye" => StructuredScheme::Eye,
            "dirac" => StructuredScheme::Dirac { groups: 1 },
            "jax_delta_orthogonal" => StructuredScheme::JaxDeltaOrthogonal {
                scale: 1.0,
                column_axis: -1,
            },
            _ => return None,
        };
        Some(crate::scheme::Scheme::Structured(s))
    }

    /// Whether `key` (normalized) is one of this scheme's parameters.
    pub(crate) fn accepts(&self, key: &str) -> bool {
        matches!(
            (self, key),
            (StructuredScheme::Orthogonal { .. }, "gain")
                | (
                    StructuredScheme::JaxOrthogonal { .. }
                        | StructuredScheme::JaxDeltaOrthogonal { .. },
                    "scale" | "column_axis"
                )
                | (StructuredScheme::Sparse { .. }, "sparsity" | "std")
                | (StructuredScheme::Dirac { .. }, "groups")
        )
    }

    /// Sets parameter `key` (one [`StructuredScheme::accepts`]) from `value`.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> Result<()> {
        let number = || {
            value.trim().parse::<f64>().map_err(|_| {
                Error::invalid(
                    "scheme parameter",
                    format!("{key}={value:?} is not a number"),
                )
            })
        };
        let axis = || {
            value.trim().parse::<i8>().map_err(|_| {
                Error::invalid(
                    "scheme parameter",
                    format!("{key}={value:?} is not an axis"),
                )
            })
        };
        match (self, key) {
            (StructuredScheme::Orthogonal { gain }, _) => *gain = number()?,
            (
                StructuredScheme::JaxOrthogonal { scale, .. }
                | StructuredScheme::JaxDeltaOrthogonal { scale, .. },
                "scale",
            ) => *scale = number()?,
            (
                StructuredScheme::JaxOrthogonal { column_axis, .. }
                | StructuredScheme::JaxDeltaOrthogonal { column_axis, .. },
                _,
            ) => *column_axis = axis()?,
            (StructuredScheme::Sparse { sparsity, .. }, "sparsity") => *sparsity = number()?,
            (StructuredScheme::Sparse { std, .. }, _) => *std = number()?,
            (StructuredScheme::Dirac { groups }, _) => {
                *groups = value.trim().parse().map_err(|_| {
                    Error::invalid(
                        "scheme parameter",
                        format!("{key}={value:?} is not a positive integer"),
                    )
                })?
            }
            (StructuredScheme::Eye, _) => unreachable!("eye accepts no parameter"),
        }
        Ok(())
    }

    /// Checks the parameters.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the parameter and its value.
    pub fn validate(&self) -> Result<()> {
        match *self {
            StructuredScheme::Orthogonal { gain } => finite("gain", gain),
            StructuredScheme::JaxOrthogonal { scale, .. }
            | StructuredScheme::JaxDeltaOrthogonal { scale, .. } => finite("scale", scale),
            StructuredScheme::Sparse { sparsity, std } => {
                if sparsity.is_nan() {
                    return Err(Error::invalid(
                        "sparsity",
                        "sparse needs sparsity=..., a number in [0, 1]: the fraction of each \
                         column set to 0"
                            .to_string(),
                    ));
                }
                if !(0.0..=1.0).contains(&sparsity) {
                    return Err(Error::invalid(
                        "sparsity",
                        format!("{sparsity} is outside [0, 1]"),
                    ));
                }
                finite("std", std)?;
                if std < 0.0 {
                    return Err(Error::invalid("std", format!("{std} is negative")));
                }
                Ok(())
            }
            StructuredScheme::Eye => Ok(()),
            StructuredScheme::Dirac { groups } => {
                if groups == 0 {
                    return Err(Error::invalid(
                        "groups",
                        "0; groups must be >= 1".to_string(),
                    ));
                }
                Ok(())
            }
        }
    }

    /// Resolves the scheme against `shape`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for a shape the scheme does not take (naming the scheme's
    /// rule and the shape), or a QR-based tensor above [`MAX_QR_ELEMS`].
    pub fn distribution(&self, shape: &[u64]) -> Result<Structure> {
        let ndim = shape.len();
        let bad_shape = |rule: &str| {
            Err(Error::invalid(
                "shape",
                format!("{} {rule}; got {shape:?}", self.name()),
            ))
        };
        let numel: u64 = shape.iter().product();
        let five = || {
            let mut s = [1u64; 5];
            s[..ndim].copy_from_slice(shape);
            s
        };
        match *self {
            StructuredScheme::Orthogonal { gain } => {
                if ndim < 2 {
                    return bad_shape("needs at least 2 dimensions");
                }
                check_qr_size(numel, self.name())?;
                Ok(Structure::Orthogonal {
                    outer: shape[0],
                    n: numel.checked_div(shape[0]).unwrap_or(0),
                    inner: 1,
                    scale: scale_f32("gain", gain)?,
                })
            }
            StructuredScheme::JaxOrthogonal { scale, column_axis } => {
                if ndim < 2 {
                    return bad_shape("needs at least 2 dimensions");
                }
                check_qr_size(numel, self.name())?;
                let (outer, n, inner) = column_view(shape, column_axis)?;
                Ok(Structure::Orthogonal {
                    outer,
                    n,
                    inner,
                    scale: scale_f32("scale", scale)?,
                })
            }
            StructuredScheme::Sparse { sparsity, std } => {
                if ndim != 2 {
                    return bad_shape("needs exactly 2 dimensions");
                }
                let zeros = (sparsity * shape[0] as f64).ceil() as u64;
                Ok(Structure::Sparse {
                    rows: shape[0],
                    cols: shape[1],
                    zeros: zeros.min(shape[0]),
                    std: scale_f32("std", std)?,
                })
            }
            StructuredScheme::Eye => {
                if ndim != 2 {
                    return bad_shape("needs exactly 2 dimensions");
                }
                Ok(Structure::Eye {
                    rows: shape[0],
                    cols: shape[1],
                })
            }
            StructuredScheme::Dirac { groups } => {
                if !(3..=5).contains(&ndim) {
                    return bad_shape("needs 3, 4 or 5 dimensions (out, in, *kernel)");
                }
                if !shape[0].is_multiple_of(groups) {
                    return Err(Error::invalid(
                        "groups",
                        format!("{groups} does not divide dimension 0 of shape {shape:?}"),
                    ));
                }
                Ok(Structure::Dirac {
                    shape: five(),
                    ndim: ndim as u8,
                    groups,
                })
            }
            StructuredScheme::JaxDeltaOrthogonal { scale, column_axis } => {
                if !(3..=5).contains(&ndim) {
                    return bad_shape("needs 3, 4 or 5 dimensions (*kernel, in, out)");
                }
                let (fan_in, fan_out) = (shape[ndim - 2], shape[ndim - 1]);
                if fan_in > fan_out {
                    return bad_shape(&format!(
                        "needs in <= out (dimensions -2 and -1), as JAX's does; in {fan_in} > \
                         out {fan_out}"
                    ));
                }
                check_qr_size(fan_in * fan_out, self.name())?;
                Ok(Structure::DeltaOrthogonal {
                    shape: five(),
                    ndim: ndim as u8,
                    matrix: column_view(&[fan_in, fan_out], column_axis)?,
                    scale: scale_f32("scale", scale)?,
                })
            }
        }
    }
}

impl fmt::Display for StructuredScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StructuredScheme::Orthogonal { gain } => write!(f, "orthogonal(gain={gain})"),
            StructuredScheme::JaxOrthogonal { scale, column_axis }
            | StructuredScheme::JaxDeltaOrthogonal { scale, column_axis } => write!(
                f,
                "{}(scale={scale}, column_axis={column_axis})",
                self.name()
            ),
            StructuredScheme::Sparse { sparsity, std } => {
                write!(f, "sparse(sparsity={sparsity}, std={std})")
            }
            StructuredScheme::Eye => f.write_str("eye"),
            StructuredScheme::Dirac { groups } => write!(f, "dirac(groups={groups})"),
        }
    }
}

fn check_qr_size(elems: u64, scheme: &str) -> Result<()> {
    if elems > MAX_QR_ELEMS {
        return Err(Error::TooLarge {
            what: "orthogonal matrix",
            value: format!("{elems} elements for {scheme}, which factorizes the whole matrix"),
            limit: MAX_QR_ELEMS.to_string(),
        });
    }
    Ok(())
}

fn scale_f32(what: &'static str, v: f64) -> Result<f32> {
    let x = v as f32;
    if !x.is_finite() {
        return Err(Error::invalid(what, format!("{v} does not fit in f32")));
    }
    Ok(x)
}

/// `(outer, n, inner)`: the products of the dimensions before, at and after `axis`.
fn column_view(shape: &[u64], axis: i8) -> Result<(u64, u64, u64)> {
    let ndim = shape.len() as i64;
    let k = if axis < 0 {
        ndim + i64::from(axis)
    } else {
        i64::from(axis)
    };
    if !(0..ndim).contains(&k) {
        return Err(Error::invalid(
            "column_axis",
            format!("{axis} is outside a {ndim}-dimensional shape {shape:?}"),
        ));
    }
    let k = k as usize;
    Ok((
        shape[..k].iter().product(),
        shape[k],
        shape[k + 1..].iter().product(),
    ))
}

/// Elements `[first_elem, first_elem + out.len())` of the structured tensor of `plan`.
///
/// # Errors
///
/// [`Error::OutOfMemory`] if the whole matrix cannot be allocated; the range is already
/// checked by the caller.
pub(crate) fn fill_range(
    plan: &FillPlan,
    structure: &Structure,
    first_elem: u64,
    out: &mut [f32],
) -> Result<()> {
    let indices = first_elem..first_elem + out.len() as u64;
    match *structure {
        Structure::Eye { cols, .. } => {
            for (v, i) in out.iter_mut().zip(indices) {
                *v = f32::from(u8::from(i / cols == i % cols));
            }
        }
        Structure::Dirac {
            shape,
            ndim,
            groups,
        } => {
            let per_group = shape[0] / groups;
            let ndim = usize::from(ndim);
            for (v, i) in out.iter_mut().zip(indices) {
                let index = unravel(i, &shape[..ndim]);
                let centre = (2..ndim).all(|d| index[d] == shape[d] / 2);
                *v = f32::from(u8::from(centre && index[0] % per_group == index[1]));
            }
        }
        Structure::Orthogonal {
            outer,
            n,
            inner,
            scale,
        } => {
            let q = cached(plan, || orthogonal(plan, outer * inner, n, scale))?;
            for (v, i) in out.iter_mut().zip(indices) {
                let (o, c, j) = (i / (n * inner), (i / inner) % n, i % inner);
                *v = q[((o * inner + j) * n + c) as usize];
            }
        }
        Structure::DeltaOrthogonal {
            shape,
            ndim,
            matrix: (outer, n, inner),
            scale,
        } => {
            let ndim = usize::from(ndim);
            let q = cached(plan, || orthogonal(plan, outer * inner, n, scale))?;
            let matrix_len = shape[ndim - 2] * shape[ndim - 1];
            for (v, i) in out.iter_mut().zip(indices) {
                let index = unravel(i / matrix_len, &shape[..ndim - 2]);
                let centre = (0..ndim - 2).all(|d| index[d] == (shape[d] - 1) / 2);
                *v = if centre {
                    let m = i % matrix_len;
                    let (o, c, j) = (m / (n * inner), (m / inner) % n, m % inner);
                    q[((o * inner + j) * n + c) as usize]
                } else {
                    0.0
                };
            }
        }
        Structure::Sparse {
            rows,
            cols,
            zeros,
            std,
        } => {
            let values = FillPlan {
                distribution: Distribution::Normal { mean: 0.0, std },
                ..*plan
            };
            crate::cpu::fill_range(&values, first_elem, out)?;
            let thresholds = cached(plan, || Ok(sparse_thresholds(plan, rows, cols, zeros)))?;
            for (v, i) in out.iter_mut().zip(indices) {
                let (r, c) = (i / cols, i % cols);
                if (mask_word(plan, c * rows + r), r) < thresholds[c as usize] {
                    *v = 0.0;
                }
            }
        }
    }
    Ok(())
}

/// `index` as a multi-index of `shape` (row-major).
fn unravel(mut index: u64, shape: &[u64]) -> Vec<u64> {
    let mut out = vec![0; shape.len()];
    for d in (0..shape.len()).rev() {
        out[d] = index % shape[d];
        index /= shape[d];
    }
    out
}

/// A semi-orthogonal `m x n` matrix (row-major f32) times `scale`, from the QR of the
/// tensor's Gaussian matrix: `G[r][c]` is element `r n + c` of its N(0, 1) stream. A wide
/// `G` is transposed first, so Q always has the smaller dimension's vectors orthonormal; Q's
/// columns are multiplied by the signs of R's diagonal (+1 for a zero), making Q uniform
/// (Haar) over the orthogonal matrices.
fn orthogonal(plan: &FillPlan, m: u64, n: u64, scale: f32) -> Result<Vec<f32>> {
    let len = m * n;
    let gaussian = FillPlan {
        distribution: Distribution::Normal {
            mean: 0.0,
            std: 1.0,
        },
        len_elems: len,
        ..*plan
    };
    let mut g = crate::error::try_zeroed::<f32>(len, || format!("a {m} x {n} matrix"))?;
    crate::cpu::fill_range(&gaussian, 0, &mut g)?;
    let (m, n) = (m as usize, n as usize);
    // nalgebra is column-major: the row-major m x n data read column-major is G^T (n x m).
    let g_t = DMatrix::from_iterator(n, m, g.iter().map(|&v| f64::from(v)));
    let wide = m < n;
    let a = if wide { g_t } else { g_t.transpose() };
    let qr = a.qr();
    let (mut q, r) = (qr.q(), qr.r());
    for j in 0..q.ncols() {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    let w = if wide { q.transpose() } else { q };
    // Row-major out of the m x n matrix w.
    let mut out = Vec::with_capacity(m * n);
    for r in 0..m {
        out.extend((0..n).map(|c| (w[(r, c)] * f64::from(scale)) as f32));
    }
    Ok(out)
}

/// Word `k` of the sparse schemes' zero-choice keys: word `k % 4` of block 2^63 + k / 4.
fn mask_word(plan: &FillPlan, k: u64) -> u32 {
    philox4x32(counter(MASK_FIRST_BLOCK + k / 4, plan.stream), plan.key)[(k % 4) as usize]
}

/// For each column, the `(key, row)` pair of rank `zeros` among that column's elements: a
/// row is zeroed when its pair is smaller, so exactly `zeros` rows are, uniformly at random.
fn sparse_thresholds(plan: &FillPlan, rows: u64, cols: u64, zeros: u64) -> Vec<(u32, u64)> {
    use rayon::prelude::*;
    (0..cols)
        .into_par_iter()
        .map(|c| {
            if zeros == 0 {
                return (0, 0);
            }
            if zeros >= rows {
                return (u32::MAX, u64::MAX);
            }
            let mut keys: Vec<(u32, u64)> = (0..rows)
                .map(|r| (mask_word(plan, c * rows + r), r))
                .collect();
            let (_, nth, _) = keys.select_nth_unstable(zeros as usize);
            *nth
        })
        .collect()
}

/// The last structured computation, keyed by its plan.
type Cache<T> = Mutex<Option<(FillPlan, Arc<T>)>>;

static ORTHOGONAL_CACHE: Cache<Vec<f32>> = Mutex::new(None);
static SPARSE_CACHE: Cache<Vec<(u32, u64)>> = Mutex::new(None);

/// Values of `plan` from the cache of their type, computing them on a miss.
///
/// The lock is not held while computing: the computation runs rayon jobs, and a thread
/// waiting in one may pick up another range of the same tensor, which locks the cache too.
/// Two threads may then compute the same value; both get identical results.
fn cached<T: CacheSlot>(plan: &FillPlan, compute: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
    let slot = T::slot();
    let lock = || slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some((key, value)) = lock().as_ref()
        && key == plan
    {
        return Ok(Arc::clone(value));
    }
    let value = Arc::new(compute()?);
    *lock() = Some((*plan, Arc::clone(&value)));
    Ok(value)
}

/// Which cache a structured computation's result lives in.
trait CacheSlot: Sized + 'static {
    fn slot() -> &'static Cache<Self>;
}

impl CacheSlot for Vec<f32> {
    fn slot() -> &'static Cache<Self> {
        &ORTHOGONAL_CACHE
    }
}

impl CacheSlot for Vec<(u32, u64)> {
    fn slot() -> &'static Cache<Self> {
        &SPARSE_CACHE
    }
}
