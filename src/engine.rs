//! Choosing where values are computed: the CPU path or a GPU, behind one interface.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::dtype::Dtype;
use crate::error::{Error, Result};
use crate::gpu::{AdapterPreference, GpuContext};
use crate::spec::FillPlan;

/// Where the user asked values to be computed.
///
/// Parsed case-insensitively from `auto`, `cpu` or `gpu`, as the CLI's `--device` is.
///
/// # Examples
///
/// ```
/// use weight_init::engine::DeviceChoice;
///
/// assert_eq!("GPU".parse::<DeviceChoice>()?, DeviceChoice::Gpu);
/// assert_eq!(DeviceChoice::default(), DeviceChoice::Auto);
/// let err = "tpu".parse::<DeviceChoice>().map_err(|e| e.to_string());
/// assert_eq!(err, Err(r#"invalid device: "tpu"; expected auto, cpu or gpu"#.into()));
/// # Ok::<(), weight_init::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// A hardware GPU if there is one, else the CPU path (with one warning); the CPU path also
    /// takes over, with one warning, when the GPU fails ([`Engine::GpuWithFallback`]).
    #[default]
    Auto,
    /// The CPU path.
    Cpu,
    /// Any GPU adapter, software ones included; an error if there is none.
    Gpu,
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "gpu" => Ok(DeviceChoice::Gpu),
            _ => Err(Error::invalid(
                "device",
                format!("{s:?}; expected auto, cpu or gpu"),
            )),
        }
    }
}

/// The CPU path or a GPU context. Both give the same values for the same plan.
///
/// # Examples
///
/// ```
/// use weight_init::engine::{DeviceChoice, Engine};
/// use weight_init::spec::TensorSpec;
///
/// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
/// let cpu = Engine::Cpu;
/// assert!(cpu.to_string().starts_with("CPU path ("));
/// let want = cpu.fill(&plan)?;
///
/// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
///     assert!(gpu.to_string().starts_with("GPU "));
///     assert_eq!(gpu.fill(&plan)?, want);
/// }
/// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
/// # Ok::<(), weight_init::Error>(())
/// ```
#[derive(Debug)]
pub enum Engine {
    /// [`crate::cpu`], on rayon's thread pool.
    Cpu,
    /// A wgpu device; its errors are returned.
    Gpu(Box<GpuContext>),
    /// A wgpu device that hands its work to the CPU path once it fails with a device error
    /// ([`Error::is_device_error`]); what [`DeviceChoice::Auto`] gives when it finds a GPU.
    GpuWithFallback(Box<FallbackGpu>),
}

/// A GPU that falls back to the CPU path: fills run on the GPU until one fails with a device
/// error (a lost device, an allocation the device refuses, a validation error); that fill and
/// every later one then run on the CPU path, after one warning in the log. The values are the
/// same either way, so a caller sees only the warning and the time.
///
/// # Examples
///
/// ```
/// use weight_init::engine::Engine;
/// use weight_init::gpu::{AdapterPreference, GpuContext};
/// use weight_init::spec::TensorSpec;
///
/// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
/// let want = Engine::Cpu.fill(&plan)?;
///
/// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
///     let engine = Engine::with_cpu_fallback(gpu);
///     assert_eq!(engine.fill(&plan)?, want);
///     if let Engine::GpuWithFallback(fallback) = &engine {
///         assert!(!fallback.has_fallen_back());
///     }
/// }
/// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
/// # Ok::<(), weight_init::Error>(())
/// ```
#[derive(Debug)]
pub struct FallbackGpu {
    gpu: GpuContext,
    failed: AtomicBool,
}

impl FallbackGpu {
    /// The GPU context.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::Engine;
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let name = gpu.describe();
    ///     if let Engine::GpuWithFallback(fallback) = Engine::with_cpu_fallback(gpu) {
    ///         assert_eq!(fallback.gpu().describe(), name);
    ///     }
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// ```
    pub fn gpu(&self) -> &GpuContext {
        &self.gpu
    }

    /// Whether a device error has moved the work to the CPU path.
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::Engine;
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::spec::TensorSpec;
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let want = Engine::Cpu.fill(&plan)?;
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let engine = Engine::with_cpu_fallback(gpu);
    ///     // The same values before and after a fallback; only the log and the time tell.
    ///     assert_eq!(engine.fill(&plan)?, want);
    ///     if let Engine::GpuWithFallback(fallback) = &engine {
    ///         assert_eq!(fallback.has_fallen_back(), engine.to_string().starts_with("CPU"));
    ///     }
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn has_fallen_back(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// `on_gpu(out)`, unless the GPU failed before; after a device error, `on_cpu(out)`, which
    /// rewrites all of `out`.
    fn run<O: ?Sized>(
        &self,
        out: &mut O,
        on_gpu: impl FnOnce(&GpuContext, &mut O) -> Result<()>,
        on_cpu: impl FnOnce(&mut O) -> Result<()>,
    ) -> Result<()> {
        if !self.has_fallen_back() {
            match on_gpu(&self.gpu, out) {
                Err(e) if e.is_device_error() => {
                    if !self.failed.swap(true, Ordering::Relaxed) {
                        log::warn!(
                            "the GPU {} failed ({e}); using the CPU path from now on, with the \
                             same values",
                            self.gpu.describe()
                        );
                    }
                }
                other => return other,
            }
        }
        on_cpu(out)
    }
}

impl Engine {
    /// The engine for `choice`.
    ///
    /// # Errors
    ///
    /// For [`DeviceChoice::Gpu`], the errors of [`GpuContext::new`]. [`DeviceChoice::Auto`]
    /// never fails: without a usable hardware GPU it logs one warning and returns the CPU path,
    /// and with one it returns [`Engine::GpuWithFallback`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    /// use weight_init::spec::TensorSpec;
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let want = Engine::new(DeviceChoice::Cpu)?.fill(&plan)?;
    /// // Auto never fails: a hardware GPU (lavapipe does not count), else the CPU path.
    /// assert_eq!(Engine::new(DeviceChoice::Auto)?.fill(&plan)?, want);
    ///
    /// match Engine::new(DeviceChoice::Gpu) {
    ///     Ok(gpu) => assert_eq!(gpu.fill(&plan)?, want),
    ///     Err(e) => {
    /// #       assert_ne!(std::env::var("WEIGHT_INIT_REQUIRE_GPU").as_deref(), Ok("1"), "{e}");
    ///         assert!(e.is_device_error(), "{e}");
    ///     }
    /// }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn new(choice: DeviceChoice) -> Result<Self> {
        match choice {
            DeviceChoice::Cpu => Ok(Engine::Cpu),
            DeviceChoice::Gpu => Ok(Engine::Gpu(Box::new(GpuContext::new(
                AdapterPreference::Any,
            )?))),
            DeviceChoice::Auto => match GpuContext::new(AdapterPreference::HardwareOnly) {
                Ok(gpu) => Ok(Engine::with_cpu_fallback(gpu)),
                Err(e) => {
                    log::warn!("using the CPU path: {e}");
                    Ok(Engine::Cpu)
                }
            },
        }
    }

    /// `gpu`, falling back to the CPU path after a device error ([`FallbackGpu`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::Engine;
    /// use weight_init::gpu::{AdapterPreference, GpuContext};
    /// use weight_init::spec::TensorSpec;
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0.0f32; 64];
    /// Engine::Cpu.fill_range(&plan, 700, &mut want)?;
    /// assert!(want.iter().all(|v| v.abs() < 0.5));
    ///
    /// if let Ok(gpu) = GpuContext::new(AdapterPreference::Any) {
    ///     let engine = Engine::with_cpu_fallback(gpu);
    ///     assert!(matches!(engine, Engine::GpuWithFallback(_)));
    ///     let mut got = vec![0.0f32; 64];
    ///     engine.fill_range(&plan, 700, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn with_cpu_fallback(gpu: GpuContext) -> Self {
        Engine::GpuWithFallback(Box::new(FallbackGpu {
            gpu,
            failed: AtomicBool::new(false),
        }))
    }

    /// Elements `[first_elem, first_elem + out.len())` of the planned tensor into `out`.
    ///
    /// # Errors
    ///
    /// Those of [`crate::cpu::fill_range`] or [`GpuContext::fill_range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    /// use weight_init::spec::TensorSpec;
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let whole = Engine::Cpu.fill(&plan)?;
    /// let mut want = vec![0.0f32; 9];
    /// Engine::Cpu.fill_range(&plan, 3, &mut want)?;
    /// assert_eq!(want, whole[3..12]);
    ///
    /// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
    ///     let mut got = vec![0.0f32; 9];
    ///     gpu.fill_range(&plan, 3, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill_range(&self, plan: &FillPlan, first_elem: u64, out: &mut [f32]) -> Result<()> {
        match self {
            Engine::Cpu => crate::cpu::fill_range(plan, first_elem, out),
            Engine::Gpu(gpu) => gpu.fill_range(plan, first_elem, out),
            Engine::GpuWithFallback(f) => f.run(
                out,
                |gpu, out| gpu.fill_range(plan, first_elem, out),
                |out| crate::cpu::fill_range(plan, first_elem, out),
            ),
        }
    }

    /// Elements `[first_elem, first_elem + n)` of the planned tensor as `dtype` bytes,
    /// `n = out.len() / dtype.size_bytes()`.
    ///
    /// # Errors
    ///
    /// Those of [`crate::cpu::fill_range_as`] or [`GpuContext::fill_range_as`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    /// use weight_init::{dtype::Dtype, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let mut want = vec![0u8; 2 * 21];
    /// Engine::Cpu.fill_range_as(&plan, Dtype::BF16, 3, &mut want)?;
    /// // bf16 keeps the top half of the f32, rounded to nearest: within 2^-8 relative of it.
    /// let mut values = vec![0.0f32; 21];
    /// Engine::Cpu.fill_range(&plan, 3, &mut values)?;
    /// let bf16 = Dtype::BF16.decode(&want);
    /// assert!(bf16.iter().zip(&values).all(|(b, v)| (b - v).abs() <= v.abs() / 256.0));
    ///
    /// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
    ///     let mut got = vec![0u8; 2 * 21];
    ///     gpu.fill_range_as(&plan, Dtype::BF16, 3, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill_range_as(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        first_elem: u64,
        out: &mut [u8],
    ) -> Result<()> {
        match self {
            Engine::Cpu => crate::cpu::fill_range_as(plan, dtype, first_elem, out),
            Engine::Gpu(gpu) => gpu.fill_range_as(plan, dtype, first_elem, out),
            Engine::GpuWithFallback(f) => f.run(
                out,
                |gpu, out| gpu.fill_range_as(plan, dtype, first_elem, out),
                |out| crate::cpu::fill_range_as(plan, dtype, first_elem, out),
            ),
        }
    }

    /// Fills `out` with the elements of `runs` (`(first_elem, len_elems)` pieces of the
    /// tensor, back to back) as `dtype` bytes: a slice of a tensor, such as one rank's shard,
    /// is the concatenation of its runs ([`crate::slice::Region::runs`]).
    ///
    /// On the GPU, runs close together are generated as one contiguous span of at most 2^24
    /// elements and cut apart on the host, so a column shard costs a few dispatches rather
    /// than one per row.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out` does not hold exactly the runs' elements or a run
    /// is outside the tensor; GPU errors.
    ///
    /// # Examples
    ///
    /// Columns 8..12 of a (32, 24) weight: four elements from each row.
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    /// use weight_init::{dtype::Dtype, spec::TensorSpec};
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let runs: Vec<(u64, u64)> = (0..32).map(|row| (24 * row + 8, 4)).collect();
    /// let mut want = vec![0u8; 4 * 4 * 32];
    /// Engine::Cpu.fill_runs(&plan, Dtype::F32, &runs, &mut want)?;
    /// let whole = Engine::Cpu.fill(&plan)?;
    /// let columns: Vec<f32> = whole.chunks(24).flat_map(|row| row[8..12].to_vec()).collect();
    /// assert_eq!(Dtype::F32.decode(&want), columns);
    ///
    /// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
    ///     let mut got = vec![0u8; 4 * 4 * 32];
    ///     gpu.fill_runs(&plan, Dtype::F32, &runs, &mut got)?;
    ///     assert_eq!(got, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill_runs(
        &self,
        plan: &FillPlan,
        dtype: Dtype,
        runs: &[(u64, u64)],
        out: &mut [u8],
    ) -> Result<()> {
        let size = dtype.size_bytes() as u64;
        let total: u64 = runs.iter().map(|&(_, len)| len).sum();
        log::debug!(
            "fill on the {self}: {total} {dtype} elements in {} run(s) from {} on stream {:#x}",
            runs.len(),
            runs.first().map_or(0, |r| r.0),
            plan.stream
        );
        if total * size != out.len() as u64 {
            return Err(Error::invalid(
                "output length",
                format!("{} bytes for {total} {dtype} elements", out.len()),
            ));
        }
        match self {
            Engine::Cpu => cpu_fill_runs(plan, dtype, runs, out),
            Engine::Gpu(gpu) => gpu_fill_runs(gpu, plan, dtype, runs, out),
            Engine::GpuWithFallback(f) => f.run(
                out,
                |gpu, out| gpu_fill_runs(gpu, plan, dtype, runs, out),
                |out| cpu_fill_runs(plan, dtype, runs, out),
            ),
        }
    }

    /// The whole planned tensor.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] if the tensor does not fit in memory; those of
    /// [`Engine::fill_range`].
    ///
    /// # Examples
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    /// use weight_init::spec::TensorSpec;
    ///
    /// let plan = TensorSpec::new("fc.weight", vec![32, 24], "he-uniform".parse()?).plan(7)?;
    /// let want = Engine::Cpu.fill(&plan)?;
    /// assert_eq!(want.len(), 768);
    /// assert!(want.iter().all(|v| v.abs() < 0.5));
    ///
    /// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
    ///     assert_eq!(gpu.fill(&plan)?, want);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn fill(&self, plan: &FillPlan) -> Result<Vec<f32>> {
        let mut out: Vec<f32> = crate::error::try_zeroed(plan.len_elems, || {
            format!("a tensor of {} f32 elements", plan.len_elems)
        })?;
        self.fill_range(plan, 0, &mut out)?;
        Ok(out)
    }

    /// Raw Philox words of blocks `[first_block, first_block + out.len() / 4)` on `stream`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `out.len()` is not a multiple of 4; GPU errors.
    ///
    /// # Examples
    ///
    /// Random123's third known answer for Philox4x32-10 (`kat_vectors`), on both paths:
    ///
    /// ```
    /// use weight_init::engine::{DeviceChoice, Engine};
    ///
    /// let (seed, stream) = (0x299f_31d0_a409_3822, 0x0370_7344_1319_8a2e);
    /// let block = 0x85a3_08d3_243f_6a88;
    /// let answer = [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1];
    /// let mut want = [0u32; 4];
    /// Engine::Cpu.words(seed, stream, block, &mut want)?;
    /// assert_eq!(want, answer);
    ///
    /// if let Ok(gpu) = Engine::new(DeviceChoice::Gpu) {
    ///     let mut got = [0u32; 4];
    ///     gpu.words(seed, stream, block, &mut got)?;
    ///     assert_eq!(got, answer);
    /// }
    /// # else { assert!(std::env::var_os("WEIGHT_INIT_REQUIRE_GPU").is_none_or(|v| v != "1")) }
    /// # Ok::<(), weight_init::Error>(())
    /// ```
    pub fn words(&self, seed: u64, stream: u64, first_block: u64, out: &mut [u32]) -> Result<()> {
        match self {
            Engine::Cpu => crate::cpu::words(seed, stream, first_block, out),
            Engine::Gpu(gpu) => gpu.words(seed, stream, first_block, out),
            Engine::GpuWithFallback(f) => f.run(
                out,
                |gpu, out| gpu.words(seed, stream, first_block, out),
                |out| crate::cpu::words(seed, stream, first_block, out),
            ),
        }
    }
}

impl fmt::Display for Engine {
    /// `CPU path (N threads)` or `GPU <name> [<backend>, <kind>]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let threads = match rayon::current_num_threads() {
            1 => "1 thread".to_string(),
            n => format!("{n} threads"),
        };
        match self {
            Engine::Cpu => write!(f, "CPU path ({threads})"),
            Engine::Gpu(gpu) => write!(f, "GPU {}", gpu.describe()),
            Engine::GpuWithFallback(g) if g.has_fallen_back() => {
                write!(f, "CPU path ({threads}) after a GPU failure")
            }
            Engine::GpuWithFallback(g) => write!(f, "GPU {}", g.gpu.describe()),
        }
    }
}

/// `out` cut into one slice per run: `(first_elem, bytes)`.
fn split_runs<'a>(runs: &[(u64, u64)], size: u64, out: &'a mut [u8]) -> Vec<(u64, &'a mut [u8])> {
    let mut slices = Vec::with_capacity(runs.len());
    let mut rest = out;
    for &(first, len) in runs {
        let (head, tail) = rest.split_at_mut((len * size) as usize);
        slices.push((first, head));
        rest = tail;
    }
    slices
}

/// [`Engine::fill_runs`] on the CPU path: the runs in parallel.
fn cpu_fill_runs(plan: &FillPlan, dtype: Dtype, runs: &[(u64, u64)], out: &mut [u8]) -> Result<()> {
    split_runs(runs, dtype.size_bytes() as u64, out)
        .into_par_iter()
        .try_for_each(|(first, bytes)| crate::cpu::fill_range_as(plan, dtype, first, bytes))
}

/// [`Engine::fill_runs`] on a GPU: runs close together share one span.
fn gpu_fill_runs(
    gpu: &GpuContext,
    plan: &FillPlan,
    dtype: Dtype,
    runs: &[(u64, u64)],
    out: &mut [u8],
) -> Result<()> {
    let size = dtype.size_bytes() as u64;
    // A span holds the gaps between runs too; 2^24 elements (64 MiB of f32) keeps that host
    // buffer modest while still covering many rows per dispatch.
    let budget = gpu.chunk_elems().min(MAX_SPAN_ELEMS);
    let mut span: Vec<(u64, &mut [u8])> = Vec::new();
    for (first, bytes) in split_runs(runs, size, out) {
        let end = first + bytes.len() as u64 / size;
        let span_start = span.first().map_or(first, |s| s.0);
        if !span.is_empty() && (first < span_start || end - span_start > budget) {
            fill_span(gpu, plan, dtype, &mut span)?;
        }
        span.push((first, bytes));
    }
    fill_span(gpu, plan, dtype, &mut span)
}

/// Largest span of elements generated at once on the GPU to cover several short runs.
const MAX_SPAN_ELEMS: u64 = 1 << 24;

/// Generates the elements from the first run's start to the last run's end in one call and
/// copies each run out of it; empties `span`.
fn fill_span(
    gpu: &GpuContext,
    plan: &FillPlan,
    dtype: Dtype,
    span: &mut Vec<(u64, &mut [u8])>,
) -> Result<()> {
    let size = dtype.size_bytes() as u64;
    match span.as_mut_slice() {
        [] => {}
        [(first, bytes)] => gpu.fill_range_as(plan, dtype, *first, bytes)?,
        runs => {
            let start = runs[0].0;
            let end = runs
                .iter()
                .map(|(f, b)| f + b.len() as u64 / size)
                .max()
                .unwrap_or(start);
            let mut all: Vec<u8> = crate::error::try_zeroed((end - start) * size, || {
                format!("a span of {} elements", end - start)
            })?;
            gpu.fill_range_as(plan, dtype, start, &mut all)?;
            for (first, bytes) in runs.iter_mut() {
                let at = ((*first - start) * size) as usize;
                bytes.copy_from_slice(&all[at..at + bytes.len()]);
            }
        }
    }
    span.clear();
    Ok(())
}
