//! Tensors and models: names, shapes and schemes, and the [`FillPlan`] each resolves to.

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::philox::Key;
use crate::scheme::Scheme;
use crate::stream;
use crate::transform::{Affine, Distribution};

/// One named tensor to initialize.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorSpec {
    /// The name; by default it selects the stream ([`stream::stream_id`]).
    pub name: String,
    /// The shape, outermost dimension first; layout `(out, in, *kernel)` for fans.
    pub shape: Vec<u64>,
    /// How the elements are drawn.
    pub scheme: Scheme,
    /// An explicit stream id instead of the name's hash.
    pub stream: Option<u64>,
    /// The element type written out (values are always computed in f32).
    pub dtype: Dtype,
}

impl TensorSpec {
    /// An f32 tensor whose stream comes from its name.
    pub fn new(name: impl Into<String>, shape: Vec<u64>, scheme: Scheme) -> Self {
        Self {
            name: name.into(),
            shape,
            scheme,
            stream: None,
            dtype: Dtype::F32,
        }
    }

    /// The same tensor written as `dtype`.
    #[must_use]
    pub fn with_dtype(mut self, dtype: Dtype) -> Self {
        self.dtype = dtype;
        self
    }

    /// The stream id: the explicit one, or the name's FNV-1a hash.
    pub fn stream_id(&self) -> u64 {
        self.stream.unwrap_or_else(|| stream::stream_id(&self.name))
    }

    /// The number of elements, the product of the dimensions (1 for a 0-D tensor).
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the product overflows `u64`.
    pub fn elem_count(&self) -> Result<u64> {
        elem_count(&self.shape)
    }

    /// Resolves the scheme against the shape and binds the seed and stream.
    ///
    /// # Errors
    ///
    /// Those of [`Scheme::distribution`] and [`TensorSpec::elem_count`]. A zero-element
    /// tensor is a no-op, as in PyTorch: its plan is valid whenever the scheme's parameters
    /// are and the shape keeps the scheme's rules ([`Scheme::check_shape`]: a 1-D `eye` is
    /// an error even with no element).
    pub fn plan(&self, seed: u64) -> Result<FillPlan> {
        check_name(&self.name)?;
        if self.shape.len() > MAX_DIMS {
            return Err(Error::invalid(
                "shape",
                format!(
                    "tensor {:?} has {} dimensions; at most {MAX_DIMS} are supported",
                    self.name,
                    self.shape.len()
                ),
            ));
        }
        let len_elems = self.elem_count()?;
        let distribution = if len_elems == 0 {
            self.scheme.validate()?;
            self.scheme.check_shape(&self.shape)?;
            Distribution::Constant { value: 0.0 }
        } else {
            self.scheme.distribution(&self.shape)?
        };
        Ok(FillPlan {
            key: stream::key(seed),
            stream: self.stream_id(),
            distribution,
            len_elems,
        })
    }
}

/// Most dimensions a tensor may have: NumPy's limit, so every output loads there too.
pub const MAX_DIMS: usize = 64;

/// Checks a tensor name: non-empty, with no control characters (it becomes a file key and a
/// printed label).
///
/// # Errors
///
/// [`Error::InvalidArgument`] quoting the name.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "tensor name",
            format!("{name:?} must be non-empty and free of control characters"),
        ));
    }
    if name == "__metadata__" {
        return Err(Error::invalid(
            "tensor name",
            "\"__metadata__\" is reserved by the safetensors format for the file's metadata",
        ));
    }
    Ok(())
}

/// The element count of a shape.
///
/// # Errors
///
/// [`Error::TooLarge`] if the product overflows `u64`.
pub fn elem_count(shape: &[u64]) -> Result<u64> {
    shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::TooLarge {
            what: "element count",
            value: format!("the product of shape {shape:?}"),
            limit: u64::MAX.to_string(),
        })
}

/// Everything that determines a tensor's values: element `i` is a pure function of
/// `(key, stream, distribution, i)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FillPlan {
    /// The Philox key, from the seed.
    pub key: Key,
    /// The stream id.
    pub stream: u64,
    /// The element distribution.
    pub distribution: Distribution,
    /// Elements in the whole tensor.
    pub len_elems: u64,
}

impl FillPlan {
    /// The kernel's view of the distribution, for f32 output.
    pub fn affine(&self) -> Affine {
        self.distribution.affine()
    }

    /// The kernel's view of the distribution for output in `dtype` (a truncated normal clamps
    /// to its bounds rounded inward to `dtype`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if no `dtype` value lies within a truncated normal's bounds.
    pub fn affine_for(&self, dtype: Dtype) -> Result<Affine> {
        let affine = self.distribution.affine_for(dtype);
        let t = affine.truncation;
        if let Distribution::TruncatedNormal { low, high, .. } = self.distribution
            && (t.low > t.high || t.low < low || t.high > high)
        {
            // Bounds within one step of the dtype, or past its largest finite value.
            return Err(Error::invalid(
                "truncation bounds",
                format!("no {dtype} value lies within [{low}, {high}]"),
            ));
        }
        Ok(affine)
    }

    /// Checks that elements `[first_elem, first_elem + len_elems)` lie inside the tensor.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the range and the tensor's length.
    pub fn check_range(&self, first_elem: u64, len_elems: u64) -> Result<()> {
        match first_elem.checked_add(len_elems) {
            Some(end) if end <= self.len_elems => Ok(()),
            _ => Err(Error::invalid(
                "element range",
                format!(
                    "[{first_elem}, {first_elem} + {len_elems}) is outside the tensor's {} elements",
                    self.len_elems
                ),
            )),
        }
    }
}

/// The notebook's network from layer widths: `W{i}` has shape `(widths[i], widths[i - 1])`
/// for `i` in `1..widths.len()`.
///
/// # Errors
///
/// [`Error::InvalidArgument`] if fewer than 2 widths are given or a width is 0.
///
/// # Examples
///
/// ```
/// use weight_init::scheme::Scheme;
/// use weight_init::spec::layer_network;
///
/// let net = layer_network(&[2, 4, 3, 1], Scheme::default())?;
/// let shapes: Vec<_> = net.iter().map(|t| (t.name.as_str(), t.shape.clone())).collect();
/// assert_eq!(shapes, [("W1", vec![4, 2]), ("W2", vec![3, 4]), ("W3", vec![1, 3])]);
/// # Ok::<(), weight_init::Error>(())
/// ```
pub fn layer_network(widths: &[u64], scheme: Scheme) -> Result<Vec<TensorSpec>> {
    if widths.len() < 2 {
        return Err(Error::invalid(
            "layers",
            format!("{widths:?} has fewer than 2 widths; a network needs an input and an output"),
        ));
    }
    if let Some(pos) = widths.iter().position(|&w| w == 0) {
        return Err(Error::invalid(
            "layers",
            format!(
                "width {} (position {}) in {widths:?} is 0; widths must be >= 1",
                widths[pos],
                pos + 1
            ),
        ));
    }
    Ok(widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| TensorSpec::new(format!("W{}", i + 1), vec![w[1], w[0]], scheme))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn element_count_overflow_is_an_error() {
        assert!(matches!(
            elem_count(&[1 << 32, 1 << 32]),
            Err(Error::TooLarge { .. })
        ));
        assert_eq!(elem_count(&[]).unwrap(), 1);
        assert_eq!(elem_count(&[3, 0, 5]).unwrap(), 0);
    }

    #[test]
    fn zero_element_tensors_plan_as_no_ops_even_for_fan_schemes() {
        let t = TensorSpec::new("empty", vec![0, 5], "he".parse().unwrap());
        assert_eq!(t.plan(1).unwrap().len_elems, 0);
    }

    #[test]
    fn ranges_past_the_tensor_are_rejected() {
        let plan = TensorSpec::new("w", vec![4, 4], Scheme::default())
            .plan(0)
            .unwrap();
        assert!(plan.check_range(0, 16).is_ok());
        assert!(plan.check_range(10, 7).is_err());
        assert!(plan.check_range(u64::MAX, 2).is_err());
    }

    #[test]
    fn names_and_ranks_are_checked() {
        let plan = |name: &str, dims: usize| {
            TensorSpec::new(name, vec![1; dims], Scheme::default()).plan(0)
        };
        assert!(plan("ok", MAX_DIMS).is_ok());
        assert!(plan("ok", MAX_DIMS + 1).is_err());
        assert!(plan("", 1).is_err());
        assert!(plan("a\nb", 1).is_err());
    }

    #[test]
    fn layer_network_rejects_zero_widths() {
        assert!(layer_network(&[2, 0, 1], Scheme::default()).is_err());
        assert!(layer_network(&[2], Scheme::default()).is_err());
    }
}
