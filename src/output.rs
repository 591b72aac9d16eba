//! Writing generated tensors to disk: `.npy`, one `.safetensors` file, or a Hugging Face
//! style directory with size-limited shards and an index, all streamed and atomic.
//!
//! Tensors are generated in batches of at most [`WriteOptions::batch_elems`] elements and
//! written as they come, so memory stays bounded by the batch, not the model. Every file is
//! written under a temporary name and renamed only when the whole checkpoint is complete (the
//! index last), so an interrupted run leaves no partial file under a final name and leaves
//! earlier files intact.

pub(crate) mod atomic;
pub mod npy;
pub mod safetensors;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use atomic::{AtomicFile, PendingFile};

use self::npy::NpyWriter;
use self::safetensors::{SafetensorsWriter, TensorHeader};
use crate::dtype::Dtype;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::slice::Region;
use crate::spec::{FillPlan, TensorSpec};

/// Hugging Face's default `max_shard_size`, "5GB" (decimal gigabytes).
pub const DEFAULT_MAX_SHARD_BYTES: u64 = 5_000_000_000;
/// File name of a single-file checkpoint in a directory.
pub const SINGLE_FILE_NAME: &str = "model.safetensors";
/// File name of the shard index in a directory.
pub const INDEX_FILE_NAME: &str = "model.safetensors.index.json";

/// Whether existing files may be replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Fail before any work if an output file exists.
    #[default]
    Refuse,
    /// Replace existing files (atomically).
    Replace,
}

/// Where a checkpoint goes, from the path's form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// `*.npy`: exactly one tensor.
    Npy(PathBuf),
    /// `*.safetensors`: every tensor in one file.
    SafetensorsFile(PathBuf),
    /// Any other path: a directory (created if missing) holding
    /// `model.safetensors`, or `model-0000k-of-0000n.safetensors` shards and
    /// `model.safetensors.index.json` when the tensors exceed the shard size.
    Directory(PathBuf),
}

impl Destination {
    /// The destination a path names: by its extension, `.npy` or `.safetensors`; an existing
    /// directory, a path without extension or a path ending in `/` is a directory.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for any other extension, so that a mistyped file name does
    /// not silently become a directory.
    pub fn from_path(path: &Path) -> Result<Self> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        let file_kind = match extension.as_deref() {
            Some("npy") => Some(Destination::Npy(path.to_path_buf())),
            Some("safetensors") => Some(Destination::SafetensorsFile(path.to_path_buf())),
            _ => None,
        };
        // A bare ".npy" is a hidden name without extension, not a file of that type.
        let bare = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| [".npy", ".safetensors"].contains(&n.to_ascii_lowercase().as_str()));
        let trailing_slash = path.as_os_str().to_string_lossy().ends_with('/');
        match (file_kind, extension) {
            _ if bare => Err(Error::invalid(
                "output path",
                format!("{} needs a file name before its extension", path.display()),
            )),
            (Some(_), _) if trailing_slash && !path.is_dir() => Err(Error::invalid(
                "output path",
                format!(
                    "{} ends in '/', which names a directory; drop the '/' to write a file",
                    path.display()
                ),
            )),
            (None, _) if path.exists() && !path.is_dir() => Err(Error::invalid(
                "output path",
                format!(
                    "{} exists and is not a directory; give a .npy or .safetensors file name, \
                     or a directory",
                    path.display()
                ),
            )),
            (Some(_), _) if path.is_dir() => Err(Error::invalid(
                "output path",
                format!("{} is a directory, not a file", path.display()),
            )),
            (Some(kind), _) => Ok(kind),
            (None, None) => Ok(Destination::Directory(path.to_path_buf())),
            // A trailing '/' says "directory" for a name with a dot, such as `model.v2/`.
            (None, Some(_)) if path.is_dir() || trailing_slash => {
                Ok(Destination::Directory(path.to_path_buf()))
            }
            (None, Some(_)) => Err(Error::invalid(
                "output path",
                format!(
                    "{} must end in .npy or .safetensors, or name a directory (end it in '/' \
                     to make a new one)",
                    path.display()
                ),
            )),
        }
    }

    /// The same destination for rank `rank` of `world`: `-rank00002-of-00008` before a
    /// file's extension, or a `rank00002-of-00008` subdirectory.
    pub fn for_rank(&self, rank: u64, world: u64) -> Self {
        let tag = format!("rank{rank:05}-of-{world:05}");
        let with_tag = |p: &Path| {
            let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("weights");
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
            p.with_file_name(format!("{stem}-{tag}.{ext}"))
        };
        match self {
            Destination::Npy(p) => Destination::Npy(with_tag(p)),
            Destination::SafetensorsFile(p) => Destination::SafetensorsFile(with_tag(p)),
            Destination::Directory(p) => Destination::Directory(p.join(tag)),
        }
    }
}

/// How a checkpoint is written.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Whether existing files may be replaced.
    pub overwrite: Overwrite,
    /// Largest shard file in a [`Destination::Directory`]; a tensor larger than this gets a
    /// shard of its own.
    pub max_shard_bytes: u64,
    /// Entries of each safetensors header's `__metadata__` map.
    pub metadata: BTreeMap<String, String>,
    /// Elements generated per batch: the bound on memory use.
    pub batch_elems: u64,
    /// Checked between batches: once set, writing stops with [`Error::Interrupted`] and no
    /// output file is left under its final name (a signal handler sets it).
    pub cancel: Option<Arc<AtomicBool>>,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            overwrite: Overwrite::Refuse,
            max_shard_bytes: DEFAULT_MAX_SHARD_BYTES,
            metadata: BTreeMap::from([("format".to_string(), "pt".to_string())]),
            batch_elems: 1 << 22,
            cancel: None,
        }
    }
}

/// One tensor to write: what it is, how its values are made, and which part of it to write.
#[derive(Debug, Clone)]
pub struct TensorJob {
    /// Name, full shape, scheme and dtype.
    pub spec: TensorSpec,
    /// The resolved values (from the full shape).
    pub plan: FillPlan,
    /// The part written; the stored shape is its extents.
    pub region: Region,
}

impl TensorJob {
    /// The whole tensor.
    ///
    /// # Errors
    ///
    /// Those of [`TensorSpec::plan`].
    pub fn whole(spec: TensorSpec, seed: u64) -> Result<Self> {
        let plan = spec.plan(seed)?;
        let region = Region::full(&spec.shape);
        Ok(Self { spec, plan, region })
    }

    /// Bytes of the written part: its elements times the dtype's size.
    ///
    /// # Errors
    ///
    /// [`Error::TooLarge`] naming the tensor if the size overflows `u64`.
    pub fn len_bytes(&self) -> Result<u64> {
        self.header().len_bytes()
    }

    fn header(&self) -> TensorHeader {
        TensorHeader {
            name: self.spec.name.clone(),
            dtype: self.spec.dtype,
            shape: self.region.extents.clone(),
        }
    }
}

/// The files of a checkpoint: each file's path and the jobs it holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileLayout {
    /// `(path, indices into the job list)` per file.
    pub files: Vec<(PathBuf, Vec<usize>)>,
    /// The index file, for sharded directories.
    pub index: Option<PathBuf>,
    /// Files of another checkpoint layout in the directory, removed once this one is in
    /// place (only with overwriting allowed).
    pub stale: Vec<PathBuf>,
}

impl FileLayout {
    /// Every path the checkpoint will create, the index last.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files
            .iter()
            .map(|(p, _)| p.as_path())
            .chain(self.index.as_deref())
    }
}

/// Plans the files for `jobs` at `dest` and checks, before any work, that they can be
/// written: a `.npy` holds one non-bf16 tensor, parent directories exist, and no output file
/// exists unless `overwrite` allows it.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the path or tensor and what is wrong.
pub fn plan_files(
    jobs: &[TensorJob],
    dest: &Destination,
    options: &WriteOptions,
) -> Result<FileLayout> {
    let layout = match dest {
        Destination::Npy(path) => {
            if jobs.len() != 1 {
                return Err(Error::invalid(
                    "output path",
                    format!(
                        "{} is .npy, which holds one tensor, but there are {}; use .safetensors",
                        path.display(),
                        jobs.len()
                    ),
                ));
            }
            if jobs[0].spec.dtype == Dtype::BF16 {
                return Err(Error::invalid(
                    "dtype",
                    format!(
                        "{} cannot hold bf16 (NumPy has no bfloat16); use .safetensors",
                        path.display()
                    ),
                ));
            }
            FileLayout {
                files: vec![(path.clone(), vec![0])],
                index: None,
                stale: Vec::new(),
            }
        }
        Destination::SafetensorsFile(path) => FileLayout {
            files: vec![(path.clone(), (0..jobs.len()).collect())],
            index: None,
            stale: Vec::new(),
        },
        Destination::Directory(dir) => shard_layout(jobs, dir, options.max_shard_bytes)?,
    };
    let mut layout = layout;
    if let Destination::Directory(dir) = dest {
        layout.stale = stale_checkpoint_files(dir, &layout)?;
        if let Some(stale) = layout.stale.first()
            && options.overwrite == Overwrite::Refuse
        {
            return Err(Error::invalid(
                "output path",
                format!(
                    "{} already holds {} from another checkpoint layout; pass --force to \
                     replace that checkpoint",
                    dir.display(),
                    stale.display()
                ),
            ));
        }
    }

    for path in layout.paths() {
        // A directory destination is created as needed; a file's directory must exist.
        let parent = atomic::parent_dir(path);
        if !matches!(dest, Destination::Directory(_)) && parent.exists() && !parent.is_dir() {
            return Err(not_a_directory(parent));
        }
        if !matches!(dest, Destination::Directory(_)) && !parent.is_dir() {
            return Err(Error::invalid(
                "output path",
                format!(
                    "directory {} of {} does not exist",
                    parent.display(),
                    path.display()
                ),
            ));
        }
        if path.is_dir() {
            return Err(Error::invalid(
                "output path",
                format!("{} is a directory, not a file", path.display()),
            ));
        }
        // A link counts as present even when it dangles: replacing it needs --force too.
        if options.overwrite == Overwrite::Refuse
            && (path.exists() || path.symlink_metadata().is_ok())
        {
            return Err(Error::invalid(
                "output path",
                format!(
                    "{} already exists; pass --force to replace it",
                    path.display()
                ),
            ));
        }
    }
    check_writable(dest)?;
    check_free_space(jobs, dest, &layout, options)?;
    Ok(layout)
}

/// Checkpoint files in `dir` (a single `model.safetensors`, `model-*-of-*.safetensors`
/// shards, the index) that `layout` would not replace: left in place they would mix two
/// checkpoints, and loaders prefer `model.safetensors` when it exists.
fn stale_checkpoint_files(dir: &Path, layout: &FileLayout) -> Result<Vec<PathBuf>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let ours: Vec<&Path> = layout.paths().collect();
    let mut stale = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| Error::io("reading", dir, e))?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let shard =
            name.starts_with("model-") && name.contains("-of-") && name.ends_with(".safetensors");
        if (shard || name == SINGLE_FILE_NAME || name == INDEX_FILE_NAME)
            && !ours.contains(&path.as_path())
        {
            stale.push(path);
        }
    }
    stale.sort();
    Ok(stale)
}

/// Bytes of every file of `layout` once written: headers, data and the index; `None` if the
/// sum passes 2^64.
///
/// # Errors
///
/// Those of building a file's header (a tensor too large to address, a name given twice).
fn output_len(
    jobs: &[TensorJob],
    dest: &Destination,
    layout: &FileLayout,
    options: &WriteOptions,
) -> Result<Option<u64>> {
    let mut total = Some(0u64);
    for (_, members) in &layout.files {
        let len = if let Destination::Npy(_) = dest {
            let job = &jobs[members[0]];
            let header = NpyWriter::header_len(job.spec.dtype, &job.region.extents);
            job.len_bytes()?.checked_add(header)
        } else {
            let headers: Vec<TensorHeader> = members.iter().map(|&i| jobs[i].header()).collect();
            Some(SafetensorsWriter::file_len(&headers, &options.metadata)?)
        };
        total = total.zip(len).and_then(|(t, l)| t.checked_add(l));
    }
    if layout.index.is_some() {
        let index = index_text(jobs, layout)?.len() as u64;
        total = total.and_then(|t| t.checked_add(index));
    }
    Ok(total)
}

/// Refuses, before any work, an output larger than the free space of its file system
/// (`statvfs`'s blocks available to unprivileged users, times the fragment size): every
/// file's header and data, and the index.
fn check_free_space(
    jobs: &[TensorJob],
    dest: &Destination,
    layout: &FileLayout,
    options: &WriteOptions,
) -> Result<()> {
    let needed = output_len(jobs, dest, layout, options)?;
    let mut dir = match dest {
        Destination::Npy(p) | Destination::SafetensorsFile(p) => atomic::parent_dir(p),
        Destination::Directory(d) => d.as_path(),
    };
    while !dir.is_dir() {
        match dir.parent() {
            Some(parent) => {
                dir = if parent.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    parent
                }
            }
            None => return Ok(()),
        }
    }
    let Some(available) = free_bytes(dir) else {
        return Ok(());
    };
    match needed {
        Some(needed) if needed <= available => Ok(()),
        _ => Err(Error::invalid(
            "output size",
            format!(
                "the output needs {} bytes, but the file system of {} has {available} free",
                needed.map_or_else(|| "more than 2^64".to_string(), |n| n.to_string()),
                dir.display()
            ),
        )),
    }
}

/// Bytes available to unprivileged users on the file system holding `dir`, if known.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a NUL-terminated string and `stats` is valid for writes; statvfs
    // initializes it when it returns 0.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    // The field types differ between platforms (u32 on some); u64 holds them all.
    #[allow(clippy::useless_conversion)]
    let (blocks, size) = (u64::from(stats.f_bavail), u64::from(stats.f_frsize));
    blocks.checked_mul(size)
}

/// Checks that the directory the output goes to (or, for a directory not yet created, its
/// nearest existing ancestor) accepts new files, by creating and removing a probe file.
/// Permission bits alone would not tell: they do not stop root, while a read-only mount or a
/// pseudo file system (`/sys`) stops everyone.
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the directory and the system's reason, or a path on the
/// way that is a file rather than a directory.
fn check_writable(dest: &Destination) -> Result<()> {
    let target = match dest {
        Destination::Npy(p) | Destination::SafetensorsFile(p) => atomic::parent_dir(p),
        Destination::Directory(d) => d.as_path(),
    };
    let mut dir = target;
    while !dir.is_dir() {
        if dir.exists() {
            return Err(not_a_directory(dir));
        }
        match dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => dir = p,
            _ => dir = Path::new("."),
        }
    }
    tempfile::Builder::new()
        .prefix(".weight-init-probe-")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|e| {
            Error::invalid(
                "output path",
                format!("cannot create files in {}: {e}", dir.display()),
            )
        })
}

/// The error for an output path whose directory part names a file.
fn not_a_directory(path: &Path) -> Error {
    Error::invalid(
        "output path",
        format!("{} is not a directory", path.display()),
    )
}

/// Groups jobs, in order, into shards of at most `max_bytes` (Hugging Face's rule: a new
/// shard starts when the next tensor would overflow the current one).
fn shard_layout(jobs: &[TensorJob], dir: &Path, max_bytes: u64) -> Result<FileLayout> {
    let mut shards: Vec<(u64, Vec<usize>)> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let bytes = job.header().len_bytes()?;
        match shards.last_mut() {
            Some((size, members)) if size.checked_add(bytes).is_some_and(|s| s <= max_bytes) => {
                *size += bytes;
                members.push(i);
            }
            _ => shards.push((bytes, vec![i])),
        }
    }
    if shards.len() <= 1 {
        return Ok(FileLayout {
            files: vec![(dir.join(SINGLE_FILE_NAME), (0..jobs.len()).collect())],
            index: None,
            stale: Vec::new(),
        });
    }
    let n = shards.len();
    let files = shards
        .into_iter()
        .enumerate()
        .map(|(k, (_, members))| {
            (
                dir.join(format!("model-{:05}-of-{n:05}.safetensors", k + 1)),
                members,
            )
        })
        .collect();
    Ok(FileLayout {
        files,
        index: Some(dir.join(INDEX_FILE_NAME)),
        stale: Vec::new(),
    })
}

/// Generates `jobs` on `engine` and writes them to `dest`; returns the files written.
/// `on_batch(job_index, bytes)` sees every batch of data as it is written (for progress and
/// statistics).
///
/// # Errors
///
/// Those of [`plan_files`]; generation errors; [`Error::NoSpace`] for a full disk, an
/// exhausted quota or a file-size limit, [`Error::Io`] for other file-system errors; after
/// any of them no output file is left under a final name.
pub fn write_checkpoint(
    engine: &Engine,
    jobs: &[TensorJob],
    dest: &Destination,
    options: &WriteOptions,
    on_batch: &mut dyn FnMut(usize, &[u8]),
) -> Result<Vec<PathBuf>> {
    let layout = plan_files(jobs, dest, options)?;
    let created_dir = match dest {
        Destination::Directory(dir) if !dir.exists() => {
            atomic::ensure_dir(dir)?;
            Some(dir.as_path())
        }
        _ => None,
    };
    let written = write_files(engine, jobs, dest, &layout, options, on_batch);
    if let (Err(_), Some(dir)) = (&written, created_dir) {
        // A failed run leaves no new directory behind (remove_dir only removes an empty one).
        let _ = std::fs::remove_dir(dir);
    }
    written
}

/// The body of [`write_checkpoint`] once the files are planned and the directory exists.
fn write_files(
    engine: &Engine,
    jobs: &[TensorJob],
    dest: &Destination,
    layout: &FileLayout,
    options: &WriteOptions,
    on_batch: &mut dyn FnMut(usize, &[u8]),
) -> Result<Vec<PathBuf>> {
    let mut pending = Vec::with_capacity(layout.files.len() + 1);
    for (path, members) in &layout.files {
        let file = if let Destination::Npy(_) = dest {
            let job = &jobs[members[0]];
            let mut w = NpyWriter::create(path, job.spec.dtype, &job.region.extents)?;
            stream_job(engine, job, options, &mut |b: &[u8]| {
                on_batch(members[0], b);
                w.write(b)
            })?;
            w.finish()?
        } else {
            let headers: Vec<TensorHeader> = members.iter().map(|&i| jobs[i].header()).collect();
            let mut w = SafetensorsWriter::create(path, &headers, &options.metadata)?;
            for &i in members {
                stream_job(engine, &jobs[i], options, &mut |b: &[u8]| {
                    on_batch(i, b);
                    w.write(b)
                })?;
            }
            w.finish()?
        };
        pending.push(file);
    }
    if let Some(index) = &layout.index {
        pending.push(index_file(index, jobs, layout)?);
    }
    let written = pending
        .into_iter()
        .map(PendingFile::commit)
        .collect::<Result<Vec<_>>>()?;
    // The new checkpoint is complete: remove the other layout's files (index first, so that
    // no index ever names a missing shard).
    for stale in layout.stale.iter().rev() {
        std::fs::remove_file(stale).map_err(|e| Error::io("removing", stale, e))?;
    }
    Ok(written)
}

/// Generates one job's region batch by batch and hands the bytes to `sink`.
fn stream_job(
    engine: &Engine,
    job: &TensorJob,
    options: &WriteOptions,
    sink: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    job.region.check(&job.spec.shape)?;
    let size = job.spec.dtype.size_bytes() as u64;
    let budget = options.batch_elems.max(1);
    let mut batch: Vec<(u64, u64)> = Vec::new();
    let mut batch_elems = 0u64;
    let mut buffer: Vec<u8> = Vec::new();
    let mut flush = |batch: &mut Vec<(u64, u64)>, elems: &mut u64| -> Result<()> {
        if *elems == 0 {
            return Ok(());
        }
        if options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
        {
            return Err(Error::Interrupted);
        }
        if buffer.is_empty() {
            let elems = budget.min(job.region.len_elems()?);
            buffer = crate::error::try_zeroed(elems * size, || {
                format!("a batch of {elems} elements of {}", job.spec.name)
            })?;
        }
        let buffer = &mut buffer[..(*elems * size) as usize];
        engine.fill_runs(&job.plan, job.spec.dtype, batch, buffer)?;
        sink(buffer)?;
        batch.clear();
        *elems = 0;
        Ok(())
    };
    for (mut first, mut len) in job.region.runs(&job.spec.shape) {
        // Long runs are cut into batch-sized pieces; short ones share a batch.
        while len > 0 {
            let take = len.min(budget - batch_elems);
            batch.push((first, take));
            batch_elems += take;
            first += take;
            len -= take;
            if batch_elems == budget {
                flush(&mut batch, &mut batch_elems)?;
            }
        }
    }
    flush(&mut batch, &mut batch_elems)
}

/// `model.safetensors.index.json`: total data size and the file of every tensor.
fn index_file(path: &Path, jobs: &[TensorJob], layout: &FileLayout) -> Result<PendingFile> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(index_text(jobs, layout)?.as_bytes())?;
    file.finish()
}

/// The text of the index file for `layout`, newline-terminated.
fn index_text(jobs: &[TensorJob], layout: &FileLayout) -> Result<String> {
    let mut weight_map = BTreeMap::new();
    for (file, members) in &layout.files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        for &i in members {
            weight_map.insert(jobs[i].spec.name.clone(), name.to_string());
        }
    }
    let total_size = jobs
        .iter()
        .map(|j| j.header().len_bytes())
        .sum::<Result<u64>>()?;
    let index = serde_json::json!({
        "metadata": { "total_size": total_size },
        "weight_map": weight_map,
    });
    let text = serde_json::to_string_pretty(&index).expect("a JSON value serializes");
    Ok(text + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::Scheme;

    fn job(name: &str, shape: Vec<u64>, dtype: Dtype) -> TensorJob {
        let mut spec = TensorSpec::new(name, shape, Scheme::default());
        spec.dtype = dtype;
        TensorJob::whole(spec, 1).unwrap()
    }

    #[test]
    fn the_free_space_check_counts_every_byte_that_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let jobs = [
            job("layer.0.weight", vec![30, 7], Dtype::F32),
            job("layer.0.bias", vec![30], Dtype::F16),
            job("head", vec![5, 30], Dtype::BF16),
        ];
        let options = WriteOptions {
            max_shard_bytes: 600,
            ..WriteOptions::default()
        };
        for (dest, jobs) in [
            (Destination::Npy(dir.path().join("w.npy")), &jobs[..1]),
            (
                Destination::SafetensorsFile(dir.path().join("m.safetensors")),
                &jobs[..],
            ),
            (
                Destination::Directory(dir.path().join("sharded")),
                &jobs[..],
            ),
        ] {
            let layout = plan_files(jobs, &dest, &options).unwrap();
            let planned = output_len(jobs, &dest, &layout, &options).unwrap().unwrap();
            let written =
                write_checkpoint(&Engine::Cpu, jobs, &dest, &options, &mut |_, _| {}).unwrap();
            let on_disk: u64 = written
                .iter()
                .map(|p| std::fs::metadata(p).unwrap().len())
                .sum();
            assert_eq!(planned, on_disk, "{dest:?}: {written:?}");
        }
    }

    #[test]
    fn shards_follow_the_size_limit_in_order() {
        let jobs = [
            job("a", vec![10], Dtype::F32),
            job("b", vec![10], Dtype::F32),
            job("c", vec![30], Dtype::F32),
            job("d", vec![2], Dtype::F16),
        ];
        let layout = shard_layout(&jobs, Path::new("out"), 80).unwrap();
        let names: Vec<_> = layout
            .files
            .iter()
            .map(|(p, m)| (p.clone(), m.clone()))
            .collect();
        assert_eq!(
            names,
            [
                (
                    PathBuf::from("out/model-00001-of-00003.safetensors"),
                    vec![0, 1]
                ),
                (
                    PathBuf::from("out/model-00002-of-00003.safetensors"),
                    vec![2]
                ),
                (
                    PathBuf::from("out/model-00003-of-00003.safetensors"),
                    vec![3]
                ),
            ]
        );
        assert_eq!(
            layout.index,
            Some(PathBuf::from("out/model.safetensors.index.json"))
        );
        let single = shard_layout(&jobs, Path::new("out"), 1000).unwrap();
        assert_eq!(single.files[0].0, PathBuf::from("out/model.safetensors"));
        assert_eq!(single.index, None);
    }

    #[test]
    fn destinations_follow_the_extension_and_rank() {
        let d = Destination::from_path(Path::new("w/model.safetensors")).unwrap();
        assert_eq!(
            d.for_rank(2, 8),
            Destination::SafetensorsFile("w/model-rank00002-of-00008.safetensors".into())
        );
        let d = Destination::from_path(Path::new("ckpt")).unwrap();
        assert!(Destination::from_path(Path::new("weights.txt")).is_err());
        assert_eq!(
            Destination::from_path(Path::new("model.v2/")).unwrap(),
            Destination::Directory("model.v2/".into())
        );
        assert_eq!(
            d.for_rank(0, 2),
            Destination::Directory("ckpt/rank00000-of-00002".into())
        );
    }
}
