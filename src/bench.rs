//! Throughput sweeps of whole fills, for `weight-init bench`: the CPU path and a GPU adapter,
//! over tensor sizes and element types, as rows for a table, a JSON file or a plot.
//!
//! This module sits on top of [`crate::engine`]: it times [`Engine::fill_range_as`] exactly as
//! a user of the library calls it, so a GPU row includes buffer creation, dispatch, the wait
//! for the device and the readback into host memory (the *end-to-end* time). The Criterion
//! benches in `benches/` time the pieces separately; this sweep answers "how fast is a fill of
//! this size here, on each path".
//!
//! # Method
//!
//! For every size, element type and engine, one untimed warm-up fill runs first, then
//! [`BenchConfig::repeats`] timed fills into the same host buffer, which is allocated and
//! written once before any timing. Rows report the minimum, median and maximum wall time;
//! throughputs come from the median.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Instant;

use serde::{Serialize, Serializer};

use crate::dtype::Dtype;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::gpu::{AdapterPreference, GpuContext};
use crate::report::{AxisScale, LegendCorner, LineChart, Report, Series};
use crate::scheme::Scheme;
use crate::spec::{FillPlan, TensorSpec};

/// The default sweep, 2^16 to 2^26 elements every two powers: six sizes that finish in under
/// a minute on two cores with a software GPU, 256 MiB of host buffer at the largest.
pub const DEFAULT_SIZES_ELEMS: [u64; 6] = [1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24, 1 << 26];

/// Timed fills per row by default; the median of five ignores one outlier on either side.
pub const DEFAULT_REPEATS: usize = 5;

/// What to measure: sizes, element types, scheme and repetitions.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchConfig {
    /// Elements per fill, one row group each, in increasing order.
    pub sizes_elems: Vec<u64>,
    /// Element types, one row per size and engine each.
    pub dtypes: Vec<Dtype>,
    /// The scheme of the filled tensor ([`bench_spec`]).
    pub scheme: Scheme,
    /// Timed fills per row, after one untimed warm-up fill; at least 1.
    pub repeats: usize,
    /// The seed of the filled tensor; it does not change the timing.
    pub seed: u64,
}

impl Default for BenchConfig {
    /// [`DEFAULT_SIZES_ELEMS`], f32, plain N(0, 1), [`DEFAULT_REPEATS`], seed 0.
    fn default() -> Self {
        Self {
            sizes_elems: DEFAULT_SIZES_ELEMS.to_vec(),
            dtypes: vec![Dtype::F32],
            scheme: Scheme::default(),
            repeats: DEFAULT_REPEATS,
            seed: 0,
        }
    }
}

impl BenchConfig {
    /// Checks the configuration and plans the tensor of every size, so that a bad argument
    /// fails before anything is measured.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] for no sizes, a size of 0, no dtypes or 0 repeats; those of
    /// [`TensorSpec::plan`].
    pub fn validate(&self) -> Result<()> {
        if self.sizes_elems.is_empty() {
            return Err(Error::invalid("sizes", "no sizes given; need at least one"));
        }
        if let Some(&n) = self.sizes_elems.iter().find(|&&n| n == 0) {
            return Err(Error::invalid(
                "sizes",
                format!("size {n} in {:?} must be at least 1", self.sizes_elems),
            ));
        }
        if self.dtypes.is_empty() {
            return Err(Error::invalid(
                "dtype",
                "no dtypes given; need at least one",
            ));
        }
        if self.repeats == 0 {
            return Err(Error::invalid("repeats", "0; need at least 1 timed fill"));
        }
        for &n in &self.sizes_elems {
            bench_spec(n, self.scheme).plan(self.seed)?;
            for &dtype in &self.dtypes {
                let size = dtype.size_bytes() as u64;
                if n.checked_mul(size)
                    .is_none_or(|b| usize::try_from(b).is_err())
                {
                    return Err(Error::TooLarge {
                        what: "benchmark buffer",
                        value: format!("{n} elements of {dtype} ({size} bytes each)"),
                        limit: format!("{} bytes addressable on this platform", usize::MAX),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The tensor a row fills: named `bench`, shape `[n]`, or `[n, 1]` for schemes that need
/// fans (two dimensions). The shape only sets the scale, never the cost.
pub fn bench_spec(n: u64, scheme: Scheme) -> TensorSpec {
    let shape = if scheme.uses_fans() {
        vec![n, 1]
    } else {
        vec![n]
    };
    TensorSpec::new("bench", shape, scheme)
}

/// Parses a comma-separated list of element counts, each a decimal number or `2^k`
/// (`0 <= k <= 63`), into increasing order without duplicates.
///
/// # Errors
///
/// [`Error::InvalidArgument`] quoting the first item that is not a count of at least 1.
///
/// # Examples
///
/// ```
/// use weight_init::bench::parse_sizes;
///
/// assert_eq!(parse_sizes("2^20, 1000,2^10")?, [1000, 1024, 1 << 20]);
/// # Ok::<(), weight_init::Error>(())
/// ```
pub fn parse_sizes(text: &str) -> Result<Vec<u64>> {
    let bad = |item: &str, why: &str| {
        Error::invalid(
            "sizes",
            format!("{item:?} in {text:?} {why}; expected counts such as 65536 or 2^16"),
        )
    };
    let mut sizes_elems = text
        .split(',')
        .map(|item| {
            let item = item.trim();
            let n = match item.strip_prefix("2^") {
                Some(power) => power
                    .parse::<u32>()
                    .ok()
                    .and_then(|k| 1u64.checked_shl(k))
                    .ok_or_else(|| bad(item, "is not 2^k with 0 <= k <= 63"))?,
                None => item
                    .parse::<u64>()
                    .map_err(|_| bad(item, "is not a non-negative integer"))?,
            };
            if n == 0 {
                return Err(bad(item, "is 0"));
            }
            Ok(n)
        })
        .collect::<Result<Vec<u64>>>()?;
    sizes_elems.sort_unstable();
    sizes_elems.dedup();
    Ok(sizes_elems)
}

/// Parses a comma-separated list of element types (`f32,f16,bf16`), keeping the first of
/// any duplicates.
///
/// # Errors
///
/// Those of [`Dtype::from_str`].
pub fn parse_dtypes(text: &str) -> Result<Vec<Dtype>> {
    let mut dtypes = Vec::new();
    for item in text.split(',') {
        let dtype: Dtype = item.trim().parse()?;
        if !dtypes.contains(&dtype) {
            dtypes.push(dtype);
        }
    }
    Ok(dtypes)
}

/// Which paths a sweep measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BenchDevices {
    /// The CPU path only.
    Cpu,
    /// The best GPU adapter only (software ones included); an error if there is none.
    Gpu,
    /// The CPU path, then the best GPU adapter if there is one.
    #[default]
    All,
}

impl FromStr for BenchDevices {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cpu" => Ok(BenchDevices::Cpu),
            "gpu" => Ok(BenchDevices::Gpu),
            "all" => Ok(BenchDevices::All),
            _ => Err(Error::invalid(
                "device",
                format!("{s:?}; expected cpu, gpu or all"),
            )),
        }
    }
}

/// The engines a sweep runs on, with notes about paths that were left out.
#[derive(Debug)]
pub struct BenchEngines {
    /// The CPU path first (when asked for), then the GPU.
    pub engines: Vec<Engine>,
    /// One line per path asked for but not available, for the reader of the table.
    pub notes: Vec<String>,
}

/// Opens the engines for `devices`: [`Engine::Cpu`] and the adapter that
/// `GpuContext::new(AdapterPreference::Any)` picks (discrete first, software such as lavapipe
/// last), once per entry of `workgroup_sizes` with its kernels built for that many
/// invocations per workgroup, or once with the default when `workgroup_sizes` is empty.
///
/// # Errors
///
/// For [`BenchDevices::Gpu`], the errors of [`GpuContext::new`]. [`BenchDevices::All`]
/// without a usable adapter gives the CPU path and a note instead. A workgroup size the
/// device cannot run: [`GpuContext::set_workgroup_size`].
pub fn open_engines(devices: BenchDevices, workgroup_sizes: &[u32]) -> Result<BenchEngines> {
    let mut engines = Vec::new();
    let mut notes = Vec::new();
    if devices != BenchDevices::Gpu {
        engines.push(Engine::Cpu);
    }
    if devices != BenchDevices::Cpu {
        let sizes: Vec<Option<u32>> = match workgroup_sizes {
            [] => vec![None],
            sizes => sizes.iter().copied().map(Some).collect(),
        };
        for size in sizes {
            match GpuContext::new(AdapterPreference::Any) {
                Ok(mut gpu) => {
                    if let Some(size) = size {
                        gpu.set_workgroup_size(size)?;
                    }
                    engines.push(Engine::Gpu(Box::new(gpu)));
                }
                Err(e) if devices == BenchDevices::All => {
                    notes.push(format!("{e}; CPU rows only"));
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(BenchEngines { engines, notes })
}

/// The kind of path a row measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// [`Engine::Cpu`].
    Cpu,
    /// [`Engine::Gpu`].
    Gpu,
}

/// One measurement: a fill of `size_elems` elements of `dtype` on one path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BenchRow {
    /// Elements per fill.
    pub size_elems: u64,
    /// Bytes per fill written to host memory: `size_elems` times the dtype's size.
    pub size_bytes: u64,
    /// The engine as [`Engine`]'s `Display` names it: `CPU path (N threads)` or
    /// `GPU <name> [<backend>, <kind>]`, where the kind `software` marks adapters such as
    /// lavapipe, followed for GPU rows by `wg <workgroup_size>`.
    pub path: String,
    /// CPU or GPU.
    pub device: PathKind,
    /// Whether the GPU adapter is a software rasterizer on the CPU (false for the CPU path).
    pub software: bool,
    /// The element type.
    #[serde(serialize_with = "serialize_display")]
    pub dtype: Dtype,
    /// The scheme, in its canonical form.
    pub scheme: String,
    /// Timed fills behind the statistics.
    pub repeats: usize,
    /// Fastest timed fill, seconds.
    pub min_s: f64,
    /// Median timed fill (mean of the middle two for an even count), seconds.
    pub median_s: f64,
    /// Slowest timed fill, seconds.
    pub max_s: f64,
    /// Millions of elements per second at the median time.
    pub msamples_per_s: f64,
    /// `size_bytes` per second at the median time, in 10^9 bytes per second.
    pub gb_per_s: f64,
    /// The CPU path's median over this row's median for the same size and dtype (1 on the
    /// CPU path); `None` when the CPU path was not measured.
    pub speedup_vs_cpu: Option<f64>,
    /// GPU rows: median seconds of the same fill into a buffer on the device, without
    /// readback, on the clock `kernel_clock` names; `None` on the CPU path or when the device
    /// cannot hold the buffer.
    pub kernel_median_s: Option<f64>,
    /// How `kernel_median_s` was taken; `None` with it.
    pub kernel_clock: Option<KernelClock>,
    /// GPU rows: the median time of the device's own buffer clear (`clear_buffer`, a
    /// transfer-queue fill with zeros) over the same bytes, on the same clock: the write
    /// bandwidth the fill is measured against. `None` with `kernel_median_s`.
    pub clear_median_s: Option<f64>,
    /// GPU rows: `clear_median_s / kernel_median_s`, the fill kernel's share of the device's
    /// measured write bandwidth (1.0 would be as fast as writing zeros).
    pub of_write_bandwidth: Option<f64>,
    /// GPU rows: invocations per workgroup of the kernels.
    pub workgroup_size: Option<u32>,
    /// GPU rows: how the kernels formed Philox's 64-bit products (`Emulated` or `Int64`).
    pub multiply: Option<String>,
}

/// The clock behind a GPU row's kernel time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelClock {
    /// Timestamp queries written by the GPU before the first and after the last of the
    /// fill's compute passes: device time alone (adapters with `Features::TIMESTAMP_QUERY`).
    Timestamp,
    /// The host's clock around submit and wait: device time plus submission and wake-up
    /// latency, for adapters without timestamp queries.
    Host,
}

fn serialize_display<T: fmt::Display, S: Serializer>(
    value: &T,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Runs the sweep: for each size, each dtype and each engine in order, one warm-up fill and
/// `config.repeats` timed fills. `on_row` sees each row as soon as it is measured (to print
/// it); the rows are also returned, in the same order.
///
/// # Errors
///
/// Those of [`BenchConfig::validate`]; [`Error::OutOfMemory`] if the host buffer for the
/// largest size cannot be allocated; the fill's errors; the first error `on_row` returns.
pub fn run(
    config: &BenchConfig,
    engines: &[Engine],
    mut on_row: impl FnMut(&BenchRow) -> Result<()>,
) -> Result<Vec<BenchRow>> {
    config.validate()?;
    let max_elems = config.sizes_elems.iter().copied().max().unwrap_or(0);
    let max_elem_bytes = config
        .dtypes
        .iter()
        .map(|d| d.size_bytes())
        .max()
        .unwrap_or(0);
    let max_bytes = max_elems.saturating_mul(max_elem_bytes as u64);
    // Zeroed by writing, so every page is mapped before the first timed fill.
    let mut buffer: Vec<u8> = crate::error::try_zeroed(max_bytes, || {
        format!("the benchmark buffer ({max_elems} elements)")
    })?;

    let mut rows = Vec::new();
    for &n in &config.sizes_elems {
        let plan = bench_spec(n, config.scheme).plan(config.seed)?;
        for &dtype in &config.dtypes {
            let out = &mut buffer[..n as usize * dtype.size_bytes()];
            let mut cpu_median_s = None;
            for engine in engines {
                let times_s = time_fills(engine, &plan, dtype, out, config.repeats)?;
                let mut row = make_row(engine, dtype, config, n, &times_s, cpu_median_s);
                if let Engine::Gpu(gpu) = engine
                    && let Some(device) = time_device_fills(gpu, &plan, dtype, config.repeats)?
                {
                    row.kernel_median_s = Some(device.fill_median_s);
                    row.kernel_clock = Some(device.clock);
                    row.clear_median_s = Some(device.clear_median_s);
                    row.of_write_bandwidth = Some(device.clear_median_s / device.fill_median_s);
                }
                log::debug!(
                    "bench on the {engine}: {n} {dtype} elements, median {:.6} s",
                    row.median_s
                );
                if row.device == PathKind::Cpu {
                    cpu_median_s = Some(row.median_s);
                }
                on_row(&row)?;
                rows.push(row);
            }
        }
    }
    Ok(rows)
}

/// One untimed fill, then `repeats` timed ones; their wall times in seconds.
fn time_fills(
    engine: &Engine,
    plan: &FillPlan,
    dtype: Dtype,
    out: &mut [u8],
    repeats: usize,
) -> Result<Vec<f64>> {
    engine.fill_range_as(plan, dtype, 0, out)?;
    let mut times_s = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        engine.fill_range_as(plan, dtype, 0, out)?;
        times_s.push(start.elapsed().as_secs_f64());
    }
    Ok(times_s)
}

/// Device-side times of one size: the fill kernel and, as the reference for write
/// bandwidth, the device's clear of the same buffer.
struct DeviceTimes {
    fill_median_s: f64,
    clear_median_s: f64,
    clock: KernelClock,
}

/// The median times of `repeats` fills into a buffer on the device (no readback) and of
/// `repeats` clears of that buffer, each after one untimed run, on the GPU's timestamps where
/// the device has them and on the host clock (submit and wait) otherwise; `None` if the
/// device cannot hold the buffer.
fn time_device_fills(
    gpu: &crate::gpu::GpuContext,
    plan: &FillPlan,
    dtype: Dtype,
    repeats: usize,
) -> Result<Option<DeviceTimes>> {
    let bytes = (plan.len_elems * dtype.size_bytes() as u64).next_multiple_of(4);
    if bytes > gpu.device().limits().max_buffer_size {
        return Ok(None);
    }
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("weight-init bench"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let timestamps = gpu
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    let fill = |encoder: &mut wgpu::CommandEncoder| {
        gpu.record_fill(encoder, plan, dtype, 0, plan.len_elems, &buffer, 0)
    };
    let clear = |encoder: &mut wgpu::CommandEncoder| {
        encoder.clear_buffer(&buffer, 0, None);
        Ok(())
    };
    let median_s = |record: &dyn Fn(&mut wgpu::CommandEncoder) -> Result<()>| {
        let mut times_s = Vec::with_capacity(repeats);
        // The first run is untimed: it pays lazy driver work such as first allocations.
        for i in 0..=repeats {
            let s = if timestamps {
                timestamped_s(gpu, record)?
            } else {
                let start = Instant::now();
                submit_and_wait(gpu, record)?;
                start.elapsed().as_secs_f64()
            };
            if i > 0 {
                times_s.push(s);
            }
        }
        times_s.sort_by(f64::total_cmp);
        Ok::<f64, Error>(median(&times_s))
    };
    let fill_median_s = median_s(&fill)?;
    let clear_median_s = median_s(&clear)?;
    let clock = match timestamps {
        true => KernelClock::Timestamp,
        false => KernelClock::Host,
    };
    Ok(Some(DeviceTimes {
        fill_median_s,
        clear_median_s,
        clock,
    }))
}

/// Records `record` into a new encoder, submits it and waits for the device (the host-clock
/// measurement, for devices without timestamp queries).
fn submit_and_wait(
    gpu: &crate::gpu::GpuContext,
    record: &dyn Fn(&mut wgpu::CommandEncoder) -> Result<()>,
) -> Result<()> {
    let device = gpu.device();
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("weight-init bench"),
    });
    record(&mut encoder)?;
    gpu.queue().submit([encoder.finish()]);
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::DeviceLost(e.to_string()))?;
    Ok(())
}

/// What `record` records (a fill, a clear) between two empty compute passes that write GPU
/// timestamps, the first at its beginning and the second at its end, so that the interval
/// covers every command `record` adds and nothing of the host's; seconds on the GPU's clock.
fn timestamped_s(
    gpu: &crate::gpu::GpuContext,
    record: &dyn Fn(&mut wgpu::CommandEncoder) -> Result<()>,
) -> Result<f64> {
    const QUERY_BYTES: u64 = 2 * size_of::<u64>() as u64;
    let device = gpu.device();
    let queries = device.create_query_set(&wgpu::QuerySetDescriptor {
        label: Some("weight-init bench timestamps"),
        ty: wgpu::QueryType::Timestamp,
        count: 2,
    });
    let resolved = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("weight-init bench timestamps"),
        size: QUERY_BYTES,
        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let readback = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("weight-init bench timestamps readback"),
        size: QUERY_BYTES,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });

    // Empty passes that only write a timestamp, around the fill's own passes.
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("weight-init bench"),
    });
    let marker = |encoder: &mut wgpu::CommandEncoder, begin, end| {
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("weight-init bench timestamp"),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &queries,
                beginning_of_pass_write_index: begin,
                end_of_pass_write_index: end,
            }),
        });
    };
    marker(&mut encoder, Some(0), None);
    record(&mut encoder)?;
    marker(&mut encoder, None, Some(1));
    encoder.resolve_query_set(&queries, 0..2, &resolved, 0);
    encoder.copy_buffer_to_buffer(&resolved, 0, &readback, 0, QUERY_BYTES);
    gpu.queue().submit([encoder.finish()]);

    let (sender, receiver) = std::sync::mpsc::channel();
    readback.map_async(wgpu::MapMode::Read, .., move |result| {
        // The receiver waits below; a send can only fail if it is gone.
        let _ = sender.send(result);
    });
    let failed = |e: &dyn fmt::Display| Error::MapFailed(format!("bench timestamps: {e}"));
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| Error::DeviceLost(e.to_string()))?;
    receiver
        .recv()
        .map_err(|e| failed(&e))?
        .map_err(|e| failed(&e))?;
    let ticks: [u64; 2] = {
        let view = readback.get_mapped_range(..).map_err(|e| failed(&e))?;
        bytemuck::pod_read_unaligned(&view[..])
    };
    readback.unmap();
    let period_ns = f64::from(gpu.queue().get_timestamp_period());
    Ok(ticks[1].wrapping_sub(ticks[0]) as f64 * period_ns * 1e-9)
}

/// The GPU context that fills for `engine`, if any.
fn gpu_of(engine: &Engine) -> Option<&crate::gpu::GpuContext> {
    match engine {
        Engine::Cpu => None,
        Engine::Gpu(gpu) => Some(gpu),
        Engine::GpuWithFallback(g) if g.has_fallen_back() => None,
        Engine::GpuWithFallback(g) => Some(g.gpu()),
    }
}

/// A row's `path`: the engine's name, and for the GPU the workgroup size.
fn path_label(engine: &Engine) -> String {
    match gpu_of(engine) {
        None => engine.to_string(),
        Some(gpu) => format!("{engine} wg {}", gpu.workgroup_size()),
    }
}

fn make_row(
    engine: &Engine,
    dtype: Dtype,
    config: &BenchConfig,
    n: u64,
    times_s: &[f64],
    cpu_median_s: Option<f64>,
) -> BenchRow {
    let mut sorted = times_s.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median_s = median(&sorted);
    let size_bytes = n * dtype.size_bytes() as u64;
    let gpu = gpu_of(engine);
    let (device, software) = match gpu {
        None => (PathKind::Cpu, false),
        Some(gpu) => (PathKind::Gpu, gpu.is_software()),
    };
    let speedup_vs_cpu = match device {
        PathKind::Cpu => Some(1.0),
        PathKind::Gpu => cpu_median_s.map(|cpu_s| cpu_s / median_s),
    };
    BenchRow {
        size_elems: n,
        size_bytes,
        path: path_label(engine),
        device,
        software,
        dtype,
        scheme: config.scheme.to_string(),
        repeats: sorted.len(),
        min_s: sorted.first().copied().unwrap_or(f64::NAN),
        median_s,
        max_s: sorted.last().copied().unwrap_or(f64::NAN),
        msamples_per_s: n as f64 / median_s / 1e6,
        gb_per_s: size_bytes as f64 / median_s / 1e9,
        speedup_vs_cpu,
        // Filled in by `run` for GPU rows.
        kernel_median_s: None,
        kernel_clock: None,
        clear_median_s: None,
        of_write_bandwidth: None,
        workgroup_size: gpu.map(|g| g.workgroup_size()),
        multiply: gpu.map(|g| format!("{:?}", g.multiply())),
    }
}

/// The median of sorted values (mean of the middle two for an even count; NaN when empty).
fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => sorted[n / 2],
        _ => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Fixed-width text rows for a sweep: a header, then one line per [`BenchRow`], so rows can be
/// printed as they are measured.
#[derive(Debug, Clone)]
pub struct Table {
    path_width: usize,
}

impl Table {
    /// A table whose path column fits the names of `engines`.
    pub fn new(engines: &[Engine]) -> Self {
        let path_width = engines
            .iter()
            .map(|e| path_label(e).chars().count())
            .chain(["path".len()])
            .max()
            .unwrap_or(0);
        Self { path_width }
    }

    /// The column names.
    pub fn header(&self) -> String {
        format!(
            "{:>11}  {:<pw$}  {:<5}  {:>10}  {:>10}  {:>10}  {:>11}  {:>7}  {:>8}  {:>10}  {:>7}",
            "size_elems",
            "path",
            "dtype",
            "median",
            "min",
            "max",
            "M samples/s",
            "GB/s",
            "vs CPU",
            "kernel",
            "of bw",
            pw = self.path_width
        )
    }

    /// One row; `n/a` marks a speed-up or a GPU kernel time that was not measured, `-` a
    /// kernel time that does not apply (the CPU path). `of bw` is the kernel's share of the
    /// device's write bandwidth ([`BenchRow::of_write_bandwidth`]).
    pub fn row(&self, row: &BenchRow) -> String {
        let speedup = row
            .speedup_vs_cpu
            .map_or_else(|| "n/a".to_string(), |s| format!("{s:.2}x"));
        let kernel = match (row.device, row.kernel_median_s) {
            (_, Some(s)) => format_seconds(s),
            (PathKind::Cpu, None) => "-".to_string(),
            (PathKind::Gpu, None) => "n/a".to_string(),
        };
        let of_bandwidth = match (row.device, row.of_write_bandwidth) {
            (_, Some(f)) => format!("{:.0}%", 100.0 * f),
            (PathKind::Cpu, None) => "-".to_string(),
            (PathKind::Gpu, None) => "n/a".to_string(),
        };
        format!(
            "{:>11}  {:<pw$}  {:<5}  {:>10}  {:>10}  {:>10}  {:>11.1}  {:>7.2}  {:>8}  {:>10}  {:>7}",
            row.size_elems,
            row.path,
            row.dtype.to_string(),
            format_seconds(row.median_s),
            format_seconds(row.min_s),
            format_seconds(row.max_s),
            row.msamples_per_s,
            row.gb_per_s,
            speedup,
            kernel,
            of_bandwidth,
            pw = self.path_width
        )
    }
}

/// Seconds with a unit that keeps three or four significant digits: `812.4 µs`, `3.071 ms`.
fn format_seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.1} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.3} ms", s * 1e3)
    } else {
        format!("{s:.3} s")
    }
}

impl Report for [BenchRow] {
    /// M samples/s against elements, both logarithmic, one line per (path, dtype) in the
    /// order the rows first name them.
    fn chart(&self) -> LineChart {
        let mut series: Vec<Series> = Vec::new();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for row in self {
            let label = format!("{} {}", row.path, row.dtype);
            let at = *index.entry(label.clone()).or_insert_with(|| {
                series.push(Series {
                    label,
                    points: Vec::new(),
                });
                series.len() - 1
            });
            series[at]
                .points
                .push((row.size_elems as f64, row.msamples_per_s));
        }
        LineChart {
            title: "weight-init fill throughput (median, end to end)".into(),
            x_desc: "elements per fill".into(),
            y_desc: "M samples/s".into(),
            x_scale: AxisScale::Log,
            y_scale: AxisScale::Log,
            series,
            legend: LegendCorner::LowerRight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_counts_and_powers_of_two_and_reject_the_rest() {
        assert_eq!(parse_sizes("4096,2^10,2^10").unwrap(), [1024, 4096]);
        assert_eq!(parse_sizes("2^0, 2^63").unwrap(), [1, 1 << 63]);
        for bad in ["", "0", "2^64", "2^-1", "-5", "1e6", "2^16,,2^18", "3^4"] {
            let e = parse_sizes(bad).unwrap_err().to_string();
            assert!(e.starts_with("invalid sizes:"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn dtypes_parse_as_a_list_without_duplicates() {
        assert_eq!(
            parse_dtypes("bf16, f32,bf16").unwrap(),
            [Dtype::BF16, Dtype::F32]
        );
        assert!(parse_dtypes("f32,f64").is_err());
    }

    #[test]
    fn median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[1.0, 2.0, 3.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), 3.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn fan_based_schemes_get_a_two_dimensional_bench_tensor() {
        let config = BenchConfig {
            scheme: "he".parse().unwrap(),
            ..BenchConfig::default()
        };
        assert!(config.validate().is_ok());
        assert_eq!(bench_spec(8, Scheme::default()).shape, [8]);
    }

    #[test]
    fn a_cpu_sweep_gives_one_row_per_size_and_dtype_with_unit_speedup() {
        let config = BenchConfig {
            sizes_elems: vec![64, 1000],
            dtypes: vec![Dtype::F32, Dtype::F16],
            repeats: 3,
            ..BenchConfig::default()
        };
        let mut seen = 0;
        let rows = run(&config, &[Engine::Cpu], |_| {
            seen += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((rows.len(), seen), (4, 4));
        let row = &rows[3];
        assert_eq!(
            (row.size_elems, row.size_bytes, row.dtype),
            (1000, 2000, Dtype::F16)
        );
        assert!(row.min_s <= row.median_s && row.median_s <= row.max_s);
        assert_eq!(row.speedup_vs_cpu, Some(1.0));
        assert_eq!(row.kernel_median_s, None);
        let table = Table::new(&[Engine::Cpu]);
        assert_eq!(
            table.header().chars().count(),
            table.row(row).chars().count()
        );
    }
}
