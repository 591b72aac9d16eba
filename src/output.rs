//! Writers for generated tensors: `.npy` (one tensor) and `.safetensors` (many), both written
//! atomically.
//!
//! A file is written under a temporary name in the destination directory, flushed to disk,
//! then renamed over the final name, so a reader never sees a truncated file and an
//! interrupted run leaves any earlier file intact. An existing file is replaced only when the
//! caller says so.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use crate::error::{Error, Result};

/// One tensor ready to be written: its name, shape and values in row-major order.
#[derive(Debug, Clone, Copy)]
pub struct TensorData<'a> {
    /// Name (the safetensors key).
    pub name: &'a str,
    /// Shape.
    pub shape: &'a [u64],
    /// Values, `product(shape)` of them.
    pub values: &'a [f32],
}

/// Whether an existing file may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    /// Fail if the file exists.
    Refuse,
    /// Replace it (atomically).
    Replace,
}

/// The output formats, chosen from the file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// NumPy `.npy`: exactly one tensor.
    Npy,
    /// `.safetensors`: any number of tensors.
    Safetensors,
}

impl Format {
    /// The format of `path`, from its extension.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for any other extension.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npy") => Ok(Format::Npy),
            Some("safetensors") => Ok(Format::Safetensors),
            _ => Err(Error::invalid(
                "output path",
                format!("{} must end in .npy or .safetensors", path.display()),
            )),
        }
    }
}

/// Checks, before any work, that `path` can receive output: a known extension, an existing
/// directory, and no existing file unless `overwrite` allows it. Returns the format.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the path and what is wrong with it.
pub fn check_destination(path: &Path, overwrite: Overwrite) -> Result<Format> {
    let format = Format::from_path(path)?;
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::invalid(
            "output path",
            format!(
                "directory {} of {} does not exist",
                dir.display(),
                path.display()
            ),
        ));
    }
    if overwrite == Overwrite::Refuse && path.exists() {
        return Err(Error::invalid(
            "output path",
            format!(
                "{} already exists; pass --force to replace it",
                path.display()
            ),
        ));
    }
    Ok(format)
}

/// The directory a file will be created in (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `tensors` to `path` in the format its extension names.
///
/// # Errors
///
/// Those of [`check_destination`]; [`Error::InvalidArgument`] for `.npy` with other than one
/// tensor, or values that do not match their shape; [`Error::Io`] for file-system errors,
/// after which no file is left under `path` (and a previous one is untouched).
pub fn write(path: &Path, tensors: &[TensorData<'_>], overwrite: Overwrite) -> Result<()> {
    let format = check_destination(path, overwrite)?;
    if format == Format::Npy && tensors.len() != 1 {
        return Err(Error::invalid(
            "output path",
            format!(
                "{} is .npy, which holds one tensor, but there are {}; use .safetensors",
                path.display(),
                tensors.len()
            ),
        ));
    }
    for t in tensors {
        let expected = crate::spec::elem_count(t.shape)?;
        if expected != t.values.len() as u64 {
            return Err(Error::invalid(
                "tensor data",
                format!(
                    "tensor {} of shape {:?} needs {expected} values, got {}",
                    t.name,
                    t.shape,
                    t.values.len()
                ),
            ));
        }
    }
    write_atomically(path, |file| match format {
        Format::Npy => write_npy(file, &tensors[0]),
        Format::Safetensors => write_safetensors(file, tensors),
    })
}

fn write_npy(file: &mut BufWriter<fs::File>, tensor: &TensorData<'_>) -> std::io::Result<()> {
    let mut writer = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(tensor.shape)
        .writer(file)
        .begin_nd()?;
    writer.extend(tensor.values.iter().copied())?;
    writer.finish()
}

fn write_safetensors(
    file: &mut BufWriter<fs::File>,
    tensors: &[TensorData<'_>],
) -> std::io::Result<()> {
    let views = tensors
        .iter()
        .map(|t| {
            let shape = t.shape.iter().map(|&d| d as usize).collect();
            let view = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                shape,
                bytemuck::cast_slice(t.values),
            )?;
            Ok((t.name.to_string(), view))
        })
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()
        .map_err(std::io::Error::other)?;
    let bytes = safetensors::serialize(views, None).map_err(std::io::Error::other)?;
    file.write_all(&bytes)
}

/// Runs `write` on a temporary file beside `path`, syncs it, and renames it to `path`.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let io_error = |action: &'static str, path: PathBuf| {
        move |source| Error::Io {
            action,
            path,
            source,
        }
    };
    let dir = parent_dir(path);
    let temp = tempfile::Builder::new()
        .prefix(".weight-init-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(io_error(
            "cannot create a temporary file in",
            dir.to_path_buf(),
        ))?;
    let (file, temp_path) = temp.into_parts();
    let mut buffered = BufWriter::new(file);
    write(&mut buffered).map_err(io_error("cannot write", temp_path.to_path_buf()))?;
    let file = buffered
        .into_inner()
        .map_err(|e| io_error("cannot write", temp_path.to_path_buf())(e.into_error()))?;
    file.sync_all()
        .map_err(io_error("cannot sync", temp_path.to_path_buf()))?;
    temp_path
        .persist(path)
        .map_err(|e| io_error("cannot rename the finished file to", path.to_path_buf())(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_to_replace_an_existing_file_and_leaves_it_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.npy");
        fs::write(&path, b"precious").unwrap();
        let t = TensorData {
            name: "w",
            shape: &[2],
            values: &[1.0, 2.0],
        };
        let err = write(&path, &[t], Overwrite::Refuse).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"precious");
        write(&path, &[t], Overwrite::Replace).unwrap();
        assert_ne!(fs::read(&path).unwrap(), b"precious");
        // Only the final file remains: no temporary left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn npy_holds_exactly_one_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let t = TensorData {
            name: "w",
            shape: &[1],
            values: &[1.0],
        };
        assert!(write(&dir.path().join("x.npy"), &[t, t], Overwrite::Refuse).is_err());
        assert!(write(&dir.path().join("x.bin"), &[t], Overwrite::Refuse).is_err());
    }

    #[test]
    fn missing_directory_is_an_error_naming_it() {
        let t = TensorData {
            name: "w",
            shape: &[1],
            values: &[1.0],
        };
        let err = write(Path::new("/nonexistent-dir/x.npy"), &[t], Overwrite::Refuse).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { .. })
                && err.to_string().contains("nonexistent-dir"),
            "{err}"
        );
    }
}
