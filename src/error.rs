//! The crate's error type: one enum whose variants name causes, with the bad value and the
//! limit it broke in each message.

use std::path::PathBuf;

/// Everything that can go wrong in `weight_init`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A caller-supplied argument is outside its valid range or malformed.
    #[error("invalid {what}: {detail}")]
    InvalidArgument {
        /// What the argument is (`"shape"`, `"std"`, `"scheme"`, ...).
        what: &'static str,
        /// What is wrong with it, quoting the value.
        detail: String,
    },

    /// A fan-based scheme was asked for on a tensor whose fans are undefined.
    #[error(
        "scheme {scheme} needs a tensor of at least 2 dimensions to compute fans, got shape {shape:?}"
    )]
    FansUndefined {
        /// The scheme's name.
        scheme: String,
        /// The tensor's shape.
        shape: Vec<u64>,
    },

    /// A size or index does not fit the arithmetic or the memory it must fit.
    #[error("{what} is too large: {value} exceeds the limit of {limit}")]
    TooLarge {
        /// What overflowed (`"element count"`, `"element range end"`, ...).
        what: &'static str,
        /// The value, as text since it may not fit any integer type.
        value: String,
        /// The limit it broke.
        limit: String,
    },

    /// No GPU adapter could be found (or none of the requested kind).
    #[error("no GPU adapter found{detail}")]
    NoAdapter {
        /// Extra context, starting with ": " when present.
        detail: String,
    },

    /// The adapter refused to create a device.
    #[error("could not create a device on adapter {adapter}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's error.
        #[source]
        source: wgpu::RequestDeviceError,
    },

    /// A request is larger than a limit of the device: a caller's buffer past the device's
    /// largest buffer, or a device whose limits are below what the kernels need. Fills never
    /// give it: they split their work within the device's limits.
    #[error("{what} is {value}, above the device limit {limit_name} = {limit}")]
    LimitExceeded {
        /// What was asked for, with its unit (`"the buffer's size in bytes"`).
        what: &'static str,
        /// The requested value.
        value: u64,
        /// The limit's field in `wgpu::Limits` (`"max_buffer_size"`).
        limit_name: &'static str,
        /// The device's value of that limit.
        limit: u64,
    },

    /// wgpu rejected the shader or the pipeline.
    #[error("GPU pipeline creation failed: {0}")]
    ShaderRejected(String),

    /// wgpu reported a validation or out-of-memory error for GPU work.
    #[error("GPU {operation} failed: {message}")]
    GpuValidation {
        /// What was being done.
        operation: &'static str,
        /// wgpu's message.
        message: String,
    },

    /// Mapping a buffer for readback failed.
    #[error("mapping a GPU buffer for readback failed: {0}")]
    MapFailed(String),

    /// The device was lost or waiting for it failed.
    #[error("GPU device lost or unresponsive: {0}")]
    DeviceLost(String),

    /// Drawing or encoding a benchmark plot failed.
    #[error("cannot draw the plot: {0}")]
    PlotFailed(String),

    /// Reading or writing a file failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done (`"cannot write"`).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },

    /// Writing stopped because the disk is full, a disk quota is used up, or the file reached
    /// the largest size a file may have (the process's `ulimit -f`, or the file system's
    /// limit). The writers remove their partial file before returning it.
    #[error("{action} {path}: {condition}")]
    NoSpace {
        /// What was being done (`"cannot write"`).
        action: &'static str,
        /// The file being written (its final name), or the directory being created.
        path: PathBuf,
        /// Which limit was reached, in words.
        condition: &'static str,
        /// The I/O error (ENOSPC, EDQUOT or EFBIG).
        #[source]
        source: std::io::Error,
    },

    /// The run was cancelled (by a signal, through [`crate::output::WriteOptions::cancel`]);
    /// no output file was left under its final name.
    #[error("interrupted; no output file was written")]
    Interrupted,

    /// Memory for a buffer could not be allocated.
    #[error("cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// What the buffer was for.
        what: String,
        /// Its size.
        bytes: u64,
    },

    /// The safetensors serializer rejected the data.
    #[error("safetensors serialization failed: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A buffer of `len` default values, or [`Error::OutOfMemory`] instead of an abort; `what`
/// names the buffer in the error.
///
/// # Errors
///
/// [`Error::OutOfMemory`] if the allocation fails.
pub fn try_zeroed<T: Clone + Default>(len: u64, what: impl FnOnce() -> String) -> Result<Vec<T>> {
    let bytes = len.saturating_mul(std::mem::size_of::<T>() as u64);
    let mut v = Vec::new();
    let reserved = usize::try_from(len)
        .ok()
        .filter(|&n| v.try_reserve_exact(n).is_ok());
    let Some(n) = reserved else {
        return Err(Error::OutOfMemory {
            what: what(),
            bytes,
        });
    };
    v.resize(n, T::default());
    Ok(v)
}

impl Error {
    /// Whether the error comes from the GPU device or its driver (no adapter, a refused
    /// device, a limit, a rejected shader, a validation or out-of-memory error, a failed
    /// mapping, a lost device), as opposed to the input or the host: the kind of error after
    /// which the CPU path can still do the work.
    pub fn is_device_error(&self) -> bool {
        matches!(
            self,
            Error::NoAdapter { .. }
                | Error::RequestDevice { .. }
                | Error::LimitExceeded { .. }
                | Error::ShaderRejected(_)
                | Error::GpuValidation { .. }
                | Error::MapFailed(_)
                | Error::DeviceLost(_)
        )
    }

    /// An [`Error::NoSpace`] when `source` says that the disk, a quota or a file-size limit is
    /// exhausted, else an [`Error::Io`].
    pub(crate) fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        use std::io::ErrorKind;

        let condition = match source.kind() {
            ErrorKind::StorageFull => "the disk is full",
            ErrorKind::QuotaExceeded => "the disk quota is exhausted",
            ErrorKind::FileTooLarge => {
                "the file reached the largest size allowed (the file-size limit, ulimit -f, or \
                 the file system's maximum)"
            }
            _ => {
                return Error::Io {
                    action,
                    path: path.to_path_buf(),
                    source,
                };
            }
        };
        Error::NoSpace {
            action,
            path: path.to_path_buf(),
            condition,
            source,
        }
    }

    /// An [`Error::InvalidArgument`]. Control characters in `detail` are escaped (`\n`
    /// becomes `\\n`): details quote input, a parser's message may hold a key verbatim, and
    /// every message stays on one line.
    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let detail = if detail.chars().any(char::is_control) {
            let mut escaped = String::with_capacity(detail.len() + 8);
            for c in detail.chars() {
                if c.is_control() {
                    escaped.extend(c.escape_default());
                } else {
                    escaped.push(c);
                }
            }
            escaped
        } else {
            detail
        };
        Error::InvalidArgument { what, detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn full_disks_quotas_and_file_size_limits_are_named() {
        // Linux's ENOSPC, EDQUOT and EFBIG.
        for (errno, words) in [(28, "the disk is full"), (122, "quota"), (27, "ulimit -f")] {
            let e = Error::io(
                "cannot write",
                std::path::Path::new("w.npy"),
                std::io::Error::from_raw_os_error(errno),
            );
            assert!(matches!(e, Error::NoSpace { .. }), "{errno}: {e:?}");
            assert!(e.to_string().contains(words), "{e}");
            assert!(e.to_string().contains("w.npy"), "{e}");
        }
        let other = std::io::Error::from_raw_os_error(13);
        assert!(matches!(
            Error::io("cannot write", std::path::Path::new("w"), other),
            Error::Io { .. }
        ));
    }
}
