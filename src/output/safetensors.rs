//! A streaming safetensors writer: the header first, then each tensor's bytes as they are
//! generated, so memory stays bounded whatever the model size.
//!
//! The header is built and validated by the `safetensors` crate's own `Metadata` type and
//! serialized with `serde_json`, padded with spaces to a multiple of 8 bytes as the crate
//! does; tensors are stored contiguously in the order given.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Metadata, TensorInfo};

use super::atomic::{AtomicFile, DataFile, PendingFile};
use crate::dtype::Dtype;
use crate::error::{Error, Result};

/// Name, dtype and shape of one tensor in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorHeader {
    /// The key.
    pub name: String,
    /// Element type.
    pub dtype: Dtype,
    /// Shape as stored.
    pub shape: Vec<u64>,
}

impl TensorHeader {
    /// Bytes of data.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] if the size overflows `u64`.
    pub fn len_bytes(&self) -> Result<u64> {
        crate::spec::elem_count(&self.shape)?
            .checked_mul(self.dtype.size_bytes() as u64)
            .ok_or_else(|| Error::TooLarge {
                what: "tensor size in bytes",
                value: format!("tensor {} of shape {:?}", self.name, self.shape),
                limit: u64::MAX.to_string(),
            })
    }
}

/// Writes one `.safetensors` file whose data arrives in order, in pieces of any size.
#[derive(Debug)]
pub struct SafetensorsWriter {
    data: DataFile,
}

impl SafetensorsWriter {
    /// Starts the file at `path` and writes its header: `tensors` in this order, plus
    /// `metadata` as the header's `__metadata__` map.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for duplicate names or a header the format rejects;
    /// [`Error::Io`] for file-system errors.
    pub fn create(
        path: &Path,
        tensors: &[TensorHeader],
        metadata: &BTreeMap<String, String>,
    ) -> Result<Self> {
        let header = header_bytes(tensors, metadata)?;
        let data_bytes = tensors
            .iter()
            .map(TensorHeader::len_bytes)
            .sum::<Result<u64>>()?;
        let mut file = AtomicFile::create(path)?;
        file.write_all(&(header.len() as u64).to_le_bytes())?;
        file.write_all(&header)?;
        Ok(Self {
            data: DataFile::new(file, data_bytes),
        })
    }

    /// Bytes of the file [`SafetensorsWriter::create`] starts for `tensors` and `metadata`,
    /// once all data is written: the 8-byte header length, the header and the data.
    ///
    /// # Errors
    ///
    /// Those of [`SafetensorsWriter::create`] for the header.
    pub fn file_len(tensors: &[TensorHeader], metadata: &BTreeMap<String, String>) -> Result<u64> {
        let header = header_bytes(tensors, metadata)?.len() as u64;
        tensors
            .iter()
            .map(TensorHeader::len_bytes)
            .try_fold(8 + header, |sum, len| {
                sum.checked_add(len?).ok_or_else(|| Error::TooLarge {
                    what: "safetensors file in bytes",
                    value: format!("{} tensors", tensors.len()),
                    limit: u64::MAX.to_string(),
                })
            })
    }

    /// Appends data bytes (the tensors' data, in header order, back to back).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if more bytes arrive than the header announced;
    /// [`Error::NoSpace`] or [`Error::Io`] if writing fails.
    pub fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.data.write(bytes)
    }

    /// Checks that all data arrived, then flushes and syncs the file, still under its
    /// temporary name.
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

/// The JSON header, padded with spaces to a multiple of 8 bytes.
fn header_bytes(tensors: &[TensorHeader], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let mut infos = Vec::with_capacity(tensors.len());
    let mut offset = 0usize;
    for t in tensors {
        let too_large = || Error::TooLarge {
            what: "tensor",
            value: format!("{} of shape {:?}", t.name, t.shape),
            limit: format!("{} bytes addressable on this platform", usize::MAX),
        };
        let len = usize::try_from(t.len_bytes()?).map_err(|_| too_large())?;
        let shape = t
            .shape
            .iter()
            .map(|&d| usize::try_from(d).map_err(|_| too_large()))
            .collect::<Result<Vec<_>>>()?;
        let end = offset.checked_add(len).ok_or_else(too_large)?;
        infos.push((
            t.name.clone(),
            TensorInfo {
                dtype: t.dtype.safetensors(),
                shape,
                data_offsets: (offset, end),
            },
        ));
        offset = end;
    }
    let mut names: Vec<&str> = tensors.iter().map(|t| t.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid(
            "tensor name",
            format!("{:?} appears twice", w[0]),
        ));
    }
    let metadata = (!metadata.is_empty()).then(|| {
        metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<HashMap<_, _>>()
    });
    let header = Metadata::new(metadata, infos)?;
    // The crate keeps `__metadata__` in a HashMap, whose order changes from run to run; the
    // same checkpoint must give the same bytes, so its entries are put in key order.
    let json_error = |e: serde_json::Error| Error::invalid("safetensors header", e.to_string());
    let mut value = serde_json::to_value(&header).map_err(json_error)?;
    if let Some(serde_json::Value::Object(meta)) = value.get_mut("__metadata__") {
        let mut entries: Vec<_> = std::mem::take(meta).into_iter().collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        meta.extend(entries);
    }
    let mut bytes = serde_json::to_vec(&value).map_err(json_error)?;
    bytes.resize(bytes.len().next_multiple_of(8), b' ');
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_file_is_read_back_by_the_safetensors_crate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let tensors = [
            TensorHeader {
                name: "b".into(),
                dtype: Dtype::F32,
                shape: vec![2, 3],
            },
            TensorHeader {
                name: "a".into(),
                dtype: Dtype::BF16,
                shape: vec![5],
            },
        ];
        let meta = BTreeMap::from([("format".to_string(), "pt".to_string())]);
        let mut w = SafetensorsWriter::create(&path, &tensors, &meta).unwrap();
        let data: Vec<u8> = (0..34u8).collect();
        w.write(&data[..7]).unwrap();
        w.write(&data[7..]).unwrap();
        assert!(w.write(&[0]).is_err(), "more data than announced");
        w.finish().unwrap().commit().unwrap();

        let bytes = std::fs::read(&path).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.tensor("b").unwrap().data(), &data[..24]);
        assert_eq!(file.tensor("a").unwrap().data(), &data[24..]);
        assert_eq!(file.tensor("a").unwrap().dtype(), safetensors::Dtype::BF16);
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        assert_eq!(header.metadata().as_ref().unwrap()["format"], "pt");
    }

    #[test]
    fn incomplete_or_duplicate_data_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        let t = TensorHeader {
            name: "x".into(),
            dtype: Dtype::F16,
            shape: vec![4],
        };
        let w =
            SafetensorsWriter::create(&path, std::slice::from_ref(&t), &BTreeMap::new()).unwrap();
        assert!(w.finish().is_err());
        assert!(!path.exists());
        let twice = [t.clone(), t];
        assert!(SafetensorsWriter::create(&path, &twice, &BTreeMap::new()).is_err());
    }
}
