//! Spec files: a model written out by hand, in JSON or TOML.
//!
//! ```json
//! {
//!   "dtype": "bf16",
//!   "seed": 0,
//!   "tensors": [
//!     { "name": "embed.weight", "shape": [1000, 64], "scheme": "normal(std=0.02)" },
//!     { "name": "fc.weight", "shape": [256, 64], "scheme": "he-uniform", "dtype": "f32" },
//!     { "name": "norm.weight", "shape": [64], "scheme": "ones" }
//!   ]
//! }
//! ```
//!
//! `dtype` (default f32) and `seed` are optional; each tensor needs `name` and `shape`, and
//! may give `scheme` (default `normal`, in the CLI's syntax), `dtype` and `stream` (an
//! explicit stream id instead of the name's hash). Unknown keys are errors.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::Model;
use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::scheme::Scheme;
use crate::spec::TensorSpec;

/// Largest spec or config file read, 64 MiB: far above any real model's list of tensors.
pub const MAX_SPEC_BYTES: u64 = 64 << 20;

/// The syntax of a spec file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// JSON.
    Json,
    /// TOML, with `[[tensors]]` tables.
    Toml,
}

impl SpecFormat {
    /// The format a path's extension names.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for other extensions.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Ok(SpecFormat::Json),
            Some("toml") => Ok(SpecFormat::Toml),
            _ => Err(Error::invalid(
                "spec file",
                format!("{} must end in .json or .toml", path.display()),
            )),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecDoc {
    #[serde(default)]
    dtype: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    tensors: Vec<TensorDoc>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TensorDoc {
    name: String,
    shape: Vec<u64>,
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    dtype: Option<String>,
    #[serde(default)]
    stream: Option<u64>,
}

/// Reads at most [`MAX_SPEC_BYTES`] of UTF-8 text.
pub(super) fn read_limited(path: &Path) -> Result<String> {
    let io = |source| Error::Io {
        action: "cannot read",
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(MAX_SPEC_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_SPEC_BYTES {
        return Err(Error::TooLarge {
            what: "spec file",
            value: format!("{} (more than {MAX_SPEC_BYTES} bytes)", path.display()),
            limit: format!("{MAX_SPEC_BYTES} bytes"),
        });
    }
    String::from_utf8(bytes).map_err(|e| {
        Error::invalid(
            "spec file",
            format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
        )
    })
}

/// Parses and validates spec text.
pub(super) fn parse(text: &str, format: SpecFormat) -> Result<Model> {
    let doc: SpecDoc = match format {
        SpecFormat::Json => {
            serde_json::from_str(text).map_err(|e| Error::invalid("spec file", e.to_string()))?
        }
        SpecFormat::Toml => toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                // 1-based: the newlines before the error's first byte, plus one.
                .map(|s| {
                    text.as_bytes()[..s.start.min(text.len())]
                        .iter()
                        .filter(|&&b| b == b'\n')
                        .count()
                        + 1
                });
            let at = line.map(|l| format!(" at line {l}")).unwrap_or_default();
            Error::invalid("spec file", format!("{}{at}", e.message().trim()))
        })?,
    };
    let default_dtype = doc
        .dtype
        .as_deref()
        .map(str::parse)
        .transpose()?
        .unwrap_or(Dtype::F32);
    if doc.tensors.is_empty() {
        return Err(Error::invalid(
            "spec file",
            "its \"tensors\" list is empty; a spec names at least one tensor",
        ));
    }
    let tensors = doc
        .tensors
        .into_iter()
        .map(|t| {
            let scheme: Scheme =
                t.scheme
                    .as_deref()
                    .unwrap_or("normal")
                    .parse()
                    .map_err(|e: Error| {
                        Error::invalid("scheme", format!("{e} (tensor {:?})", t.name))
                    })?;
            let dtype = t
                .dtype
                .as_deref()
                .map(str::parse)
                .transpose()?
                .unwrap_or(default_dtype);
            Ok(TensorSpec {
                name: t.name,
                shape: t.shape,
                scheme,
                stream: t.stream,
                dtype,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut model = Model::new(tensors)?;
    model.seed = doc.seed;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JSON: &str = r#"{
        "dtype": "bf16",
        "seed": 3,
        "tensors": [
            { "name": "embed.weight", "shape": [100, 8], "scheme": "normal(std=0.02)" },
            { "name": "fc.weight", "shape": [16, 8], "scheme": "he-uniform", "dtype": "f32" },
            { "name": "norm.weight", "shape": [8], "scheme": "ones", "stream": 7 }
        ]
    }"#;

    const TOML: &str = r#"
        dtype = "bf16"
        seed = 3

        [[tensors]]
        name = "embed.weight"
        shape = [100, 8]
        scheme = "normal(std=0.02)"

        [[tensors]]
        name = "fc.weight"
        shape = [16, 8]
        scheme = "he-uniform"
        dtype = "f32"

        [[tensors]]
        name = "norm.weight"
        shape = [8]
        scheme = "ones"
        stream = 7
    "#;

    #[test]
    fn json_and_toml_describe_the_same_model() {
        let a = parse(JSON, SpecFormat::Json).unwrap();
        let b = parse(TOML, SpecFormat::Toml).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.seed, Some(3));
        assert_eq!(a.tensors[0].dtype, Dtype::BF16);
        assert_eq!(a.tensors[1].dtype, Dtype::F32);
        assert_eq!(a.tensors[2].stream, Some(7));
    }

    #[test]
    fn malformed_specs_name_the_problem() {
        let cases = [
            (
                r#"{"tensors": [{"name": "a", "shape": [2, 0, -1]}]}"#,
                "invalid value",
            ),
            (
                r#"{"tensors": [{"name": "a", "shape": [2], "scheme": "he"}]}"#,
                "dimensions",
            ),
            (
                r#"{"tensors": [{"name": "a", "shape": [2]}, {"name": "a", "shape": [2]}]}"#,
                "twice",
            ),
            (
                r#"{"tensors": [{"name": "a", "shap": [2]}]}"#,
                "unknown field",
            ),
            (
                r#"{"tensors": [{"name": "a", "shape": [2], "dtype": "f8"}]}"#,
                "f8",
            ),
            (
                r#"{"tensors": [{"name": "a", "shape": [2], "scheme": "normal(std=-1)"}]}"#,
                "-1",
            ),
            (
                r#"{"tensors": [{"name": "a", "shape": [4294967296, 4294967296]}]}"#,
                "too large",
            ),
            (r#"{"tensors": [{"name": "a", "#, "EOF"),
        ];
        for (text, needle) in cases {
            let err = parse(text, SpecFormat::Json).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert_eq!(err.lines().count(), 1, "{err}");
        }
        let err = parse("tensors = [\n{ name = 1 }]", SpecFormat::Toml)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line"), "{err}");
    }
}
