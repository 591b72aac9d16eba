//! A streaming `.npy` writer for one tensor: the header from `npyz`, then raw little-endian
//! data as it is generated.

use std::path::{Path, PathBuf};

use npyz::WriterBuilder;

use super::atomic::{AtomicFile, DataFile, PendingFile};
use crate::dtype::Dtype;
use crate::error::{Error, Result};

/// Writes one `.npy` file whose data arrives in order, in pieces of any size.
#[derive(Debug)]
pub struct NpyWriter {
    data: DataFile,
}

impl NpyWriter {
    /// Starts `path` for a C-order array of `shape` and `dtype`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for bf16, which NumPy has no type for; [`Error::Io`] for
    /// file-system errors.
    pub fn create(path: &Path, dtype: Dtype, shape: &[u64]) -> Result<Self> {
        let type_str = match dtype {
            Dtype::F32 => "<f4",
            Dtype::F16 => "<f2",
            Dtype::BF16 => {
                return Err(Error::invalid(
                    "dtype",
                    format!(
                        "{} cannot hold bf16 (NumPy has no bfloat16); use .safetensors",
                        path.display()
                    ),
                ));
            }
        };
        let data_bytes = crate::spec::elem_count(shape)?
            .checked_mul(dtype.size_bytes() as u64)
            .ok_or_else(|| Error::TooLarge {
                what: "tensor size in bytes",
                value: format!("{} of shape {shape:?}", path.display()),
                limit: u64::MAX.to_string(),
            })?;
        let mut file = AtomicFile::create(path)?;
        write_header(file.writer(), type_str, shape)
            .map_err(|source| Error::io("cannot write", path, source))?;
        Ok(Self {
            data: DataFile::new(file, data_bytes),
        })
    }

    /// Bytes of the header [`NpyWriter::create`] writes for `shape` and `dtype` (a multiple
    /// of 64), for checking free space before any work; bf16 has none, as `create` refuses it.
    pub fn header_len(dtype: Dtype, shape: &[u64]) -> u64 {
        let type_str = match dtype {
            Dtype::F32 => "<f4",
            Dtype::F16 => "<f2",
            Dtype::BF16 => return 0,
        };
        let mut header = std::io::Cursor::new(Vec::new());
        write_header(&mut header, type_str, shape).expect("writing to memory does not fail");
        header.into_inner().len() as u64
    }

    /// Appends data bytes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] past the announced size; [`Error::NoSpace`] or [`Error::Io`] if writing fails.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.data.write(bytes)
    }

    /// Checks that all data arrived, flushes and syncs.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if data is missing; [`Error::NoSpace`] or [`Error::Io`] if syncing fails.
    pub fn finish(self) -> Result<PendingFile> {
        self.data.finish()
    }

    /// The file's final path.
    pub fn target(&self) -> PathBuf {
        self.data.target().to_path_buf()
    }
}

/// The `.npy` header of a C-order array of `shape` and NumPy type `type_str`.
fn write_header<W: std::io::Write>(
    writer: W,
    type_str: &str,
    shape: &[u64],
) -> std::io::Result<()> {
    let dtype = npyz::DType::new_scalar(type_str.parse().expect("a valid NumPy type string"));
    npyz::WriteOptions::new_header_only()
        .shape(shape)
        .dtype(dtype)
        .writer(writer)
        .write_header_only()
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_through_npyz() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        let mut w = NpyWriter::create(&path, Dtype::F32, &[2, 2]).unwrap();
        let values = [1.0f32, -2.0, 3.5, 0.25];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        w.write(&bytes).unwrap();
        w.finish().unwrap().commit().unwrap();
        let data = std::fs::read(&path).unwrap();
        let npy = npyz::NpyFile::new(&data[..]).unwrap();
        assert_eq!(npy.shape(), &[2, 2]);
        assert_eq!(npy.into_vec::<f32>().unwrap(), values);
        assert!(NpyWriter::create(&path, Dtype::BF16, &[1]).is_err());
    }
}
