//! Models: lists of named tensors, from spec files, Hugging Face configs or built-in presets.
//!
//! A tensor's stream comes from its name, so a model's values do not depend on the order of
//! its tensors, and any single tensor can be regenerated alone.

mod file;
mod hf;

use std::path::Path;

pub use file::{MAX_SPEC_BYTES, SpecFormat};
pub use hf::PRESETS;

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::spec::TensorSpec;

/// A named list of tensors to initialize.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The tensors, in the order they are written.
    pub tensors: Vec<TensorSpec>,
    /// A seed the spec file asks for, if any.
    pub seed: Option<u64>,
}

impl Model {
    /// A model of `tensors`, validated ([`Model::validate`]).
    ///
    /// # Errors
    ///
    /// Those of [`Model::validate`].
    pub fn new(tensors: Vec<TensorSpec>) -> Result<Self> {
        let model = Self {
            tensors,
            seed: None,
        };
        model.validate()?;
        Ok(model)
    }

    /// Reads a spec file (`.json` or `.toml`; see [`SpecFormat`] for the layout).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be read; [`Error::TooLarge`] past [`MAX_SPEC_BYTES`];
    /// [`Error::InvalidArgument`] for malformed content, naming the file and the line.
    pub fn from_spec_file(path: &Path) -> Result<Self> {
        let text = file::read_limited(path).map_err(|e| with_path(e, path))?;
        let format = SpecFormat::from_path(path)?;
        file::parse(&text, format).map_err(|e| with_path(e, path))
    }

    /// Parses spec text in `format`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for malformed content.
    pub fn from_spec_str(text: &str, format: SpecFormat) -> Result<Self> {
        file::parse(text, format)
    }

    /// Reads a Hugging Face `config.json` (GPT-2 and Llama families) and builds its state
    /// dict with the family's published initialization.
    ///
    /// # Errors
    ///
    /// As for [`Model::from_spec_file`], and [`Error::InvalidArgument`] for an unsupported
    /// `model_type` or a missing field.
    pub fn from_hf_config_file(path: &Path) -> Result<Self> {
        let text = file::read_limited(path).map_err(|e| with_path(e, path))?;
        hf::from_config_str(&text).map_err(|e| with_path(e, path))
    }

    /// Parses the text of a Hugging Face `config.json`.
    ///
    /// # Errors
    ///
    /// As for [`Model::from_hf_config_file`].
    pub fn from_hf_config_str(text: &str) -> Result<Self> {
        hf::from_config_str(text)
    }

    /// A built-in preset by name (see [`PRESETS`]).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for an unknown name, listing the known ones.
    pub fn preset(name: &str) -> Result<Self> {
        let (_, config) = PRESETS
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let known: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
                Error::invalid(
                    "preset",
                    format!("unknown preset {name:?}; known: {}", known.join(", ")),
                )
            })?;
        hf::from_config_str(config)
    }

    /// Every tensor written as `dtype`.
    #[must_use]
    pub fn with_dtype(mut self, dtype: Dtype) -> Self {
        for t in &mut self.tensors {
            t.dtype = dtype;
        }
        self
    }

    /// Checks names (non-empty, unique), shapes (element counts fit `u64`) and schemes
    /// (parameters valid, fans defined for the shape).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`], [`Error::FansUndefined`] or [`Error::TooLarge`], naming the
    /// tensor.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        let mut streams = std::collections::HashMap::new();
        for t in &self.tensors {
            if let Some(other) = streams.insert(t.stream_id(), t.name.as_str())
                && other != t.name
            {
                return Err(Error::invalid(
                    "stream",
                    format!(
                        "tensors {other:?} and {:?} share stream {:#x}, so their values would be \
                         identical; give each its own stream",
                        t.name,
                        t.stream_id()
                    ),
                ));
            }
            if t.name.is_empty() {
                return Err(Error::invalid("tensor name", "a tensor has an empty name"));
            }
            if !seen.insert(t.name.as_str()) {
                return Err(Error::invalid(
                    "tensor name",
                    format!("{:?} appears twice", t.name),
                ));
            }
            t.plan(0).map_err(|e| match e {
                Error::InvalidArgument { what, detail } => Error::InvalidArgument {
                    what,
                    detail: format!("{detail} (tensor {:?})", t.name),
                },
                Error::TooLarge { what, value, limit } => Error::TooLarge {
                    what,
                    value: format!("{value} (tensor {:?})", t.name),
                    limit,
                },
                Error::FansUndefined { scheme, shape } => Error::FansUndefined {
                    scheme: format!("{scheme} of tensor {:?}", t.name),
                    shape,
                },
                other => other,
            })?;
        }
        Ok(())
    }

    /// Total elements over all tensors.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] on overflow.
    pub fn elem_count(&self) -> Result<u64> {
        self.tensors.iter().try_fold(0u64, |acc, t| {
            acc.checked_add(t.elem_count()?)
                .ok_or_else(|| Error::TooLarge {
                    what: "model element count",
                    value: "the sum over all tensors".into(),
                    limit: u64::MAX.to_string(),
                })
        })
    }
}

/// Puts the file name in front of an invalid-argument message.
fn with_path(e: Error, path: &Path) -> Error {
    match e {
        Error::InvalidArgument { what, detail } => Error::InvalidArgument {
            what,
            detail: format!("{}: {detail}", path.display()),
        },
        other => other,
    }
}
