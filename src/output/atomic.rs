//! Files that appear under their final name only when complete.

use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Buffer size for streamed writes: large enough that each write call moves megabytes.
const WRITE_BUFFER_BYTES: usize = 8 << 20;

/// A file being written under a temporary name (`.weight-init-*.partial`) in its final
/// directory. [`AtomicFile::commit`] syncs it and renames it over the final name; dropping it
/// uncommitted deletes it, so an error or a panic leaves no partial file and any earlier file
/// under the final name untouched. (A killed process may leave the temporary file, never a
/// partial file under the final name.)
#[derive(Debug)]
pub struct AtomicFile {
    writer: BufWriter<tempfile::NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Starts a file that will become `target`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the temporary file cannot be created in `target`'s directory
    /// ([`Error::NoSpace`] if the disk is full).
    pub fn create(target: &Path) -> Result<Self> {
        let dir = parent_dir(target);
        let mut builder = tempfile::Builder::new();
        builder.prefix(".weight-init-").suffix(".partial");
        // Output files get the usual 0666 & !umask, not a temporary file's private 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(fs::Permissions::from_mode(0o666));
        }
        let temp = builder
            .tempfile_in(dir)
            .map_err(|source| Error::io("cannot create a temporary file in", dir, source))?;
        Ok(Self {
            writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, temp),
            target: target.to_path_buf(),
        })
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSpace`] when the disk is full, a quota is used up or the file reaches the
    /// file-size limit; [`Error::Io`] for other failures; both name the final path.
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        self.writer
            .write_all(bytes)
            .map_err(|source| Error::io("cannot write", &self.target, source))
    }

    /// The buffered writer, for encoders that take `impl Write`.
    pub(crate) fn writer(&mut self) -> &mut BufWriter<tempfile::NamedTempFile> {
        &mut self.writer
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes and syncs the data; the file keeps its temporary name until
    /// [`PendingFile::commit`], so several files can be renamed together at the end.
    ///
    /// # Errors
    ///
    /// [`Error::NoSpace`] or [`Error::Io`] if flushing or syncing fails; the temporary file is
    /// removed.
    pub fn finish(self) -> Result<PendingFile> {
        let target = self.target;
        let temp = self
            .writer
            .into_inner()
            .map_err(|e| Error::io("cannot write", &target, e.into_error()))?;
        temp.as_file()
            .sync_all()
            .map_err(|source| Error::io("cannot sync", &target, source))?;
        Ok(PendingFile { temp, target })
    }

    /// [`AtomicFile::finish`] then [`PendingFile::commit`].
    ///
    /// # Errors
    ///
    /// Those of both.
    pub fn commit(self) -> Result<PathBuf> {
        self.finish()?.commit()
    }
}

/// A complete, synced file still under its temporary name; dropped uncommitted, it is removed.
#[derive(Debug)]
pub struct PendingFile {
    temp: tempfile::NamedTempFile,
    target: PathBuf,
}

impl PendingFile {
    /// Renames the file to its final name, replacing any file there.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the rename fails; the temporary file is removed.
    pub fn commit(self) -> Result<PathBuf> {
        let target = self.target;
        self.temp.persist(&target).map_err(|e| Error::Io {
            action: "cannot rename the finished file to",
            path: target.clone(),
            source: e.error,
        })?;
        Ok(target)
    }
}

/// An [`AtomicFile`] whose data part has a size announced up front (by a header already
/// written): more data is refused, and finishing with less is an error.
#[derive(Debug)]
pub(crate) struct DataFile {
    file: AtomicFile,
    data_bytes: u64,
    written_bytes: u64,
}

impl DataFile {
    /// `file`, expecting `data_bytes` more bytes.
    pub(crate) fn new(file: AtomicFile, data_bytes: u64) -> Self {
        Self {
            file,
            data_bytes,
            written_bytes: 0,
        }
    }

    /// Appends data bytes.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let end = self.written_bytes + bytes.len() as u64;
        if end > self.data_bytes {
            return Err(Error::invalid(
                "tensor data",
                format!(
                    "{end} bytes exceed the {} the header announced",
                    self.data_bytes
                ),
            ));
        }
        self.file.write_all(bytes)?;
        self.written_bytes = end;
        Ok(())
    }

    /// Checks that all data arrived, then [`AtomicFile::finish`].
    pub(crate) fn finish(self) -> Result<PendingFile> {
        if self.written_bytes != self.data_bytes {
            return Err(Error::invalid(
                "tensor data",
                format!(
                    "{} of {} data bytes written",
                    self.written_bytes, self.data_bytes
                ),
            ));
        }
        self.file.finish()
    }

    /// The final path.
    pub(crate) fn target(&self) -> &Path {
        self.file.target()
    }
}

/// The directory a file will be created in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates `dir` (and its parents) if missing.
///
/// # Errors
///
/// [`Error::Io`] naming the directory.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(|source| Error::io("cannot create directory", dir, source))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_files_vanish_and_leave_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.bin");
        fs::write(&path, b"old").unwrap();
        {
            let mut f = AtomicFile::create(&path).unwrap();
            f.write_all(b"new, but never committed").unwrap();
        }
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);

        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"new").unwrap();
        f.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The mode a plain `File::create` gets under this umask, not a temporary file's
            // private 0600.
            let plain = dir.path().join("plain");
            fs::File::create(&plain).unwrap();
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), mode(&plain));
        }
    }
}
