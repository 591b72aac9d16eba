//! The `weight-init` command: parse arguments, set up logging, call the library, map errors to
//! exit codes. No algorithm lives here.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::{Args, Parser, Subcommand};

use indicatif::{ProgressBar, ProgressStyle};
use weight_init::Error;
use weight_init::bench::{self, BenchConfig, BenchDevices, KernelClock, PathKind, Table};
use weight_init::display::{self, TensorStats};
use weight_init::dtype::Dtype;
use weight_init::engine::{DeviceChoice, Engine};
use weight_init::model::Model;
use weight_init::output::{Destination, Overwrite, TensorJob, WriteOptions};
use weight_init::probe::{self, ProbeConfig};
use weight_init::report::ReportFile;
use weight_init::scheme::{Nonlinearity, Scheme};
use weight_init::slice::shard_region;
use weight_init::spec::{TensorSpec, layer_network};

/// Initialize neural-network weights with Philox4x32-10, identically on the GPU and the CPU.
#[derive(Debug, Parser)]
#[command(name = "weight-init", version)]
struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true, display_order = 100)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

// The enum is built once per run, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
//
// `allow_negative_numbers`: a value such as `-1` reaches the option's parser, which names the
// option in its error, instead of being taken for an unknown flag.
#[derive(Debug, Subcommand)]
enum Command {
    /// Initialize tensors and print them (or write them with --out).
    #[command(allow_negative_numbers = true)]
    Init(InitArgs),
    /// Print raw Philox4x32-10 words, one block of four per line.
    #[command(allow_negative_numbers = true)]
    Bits(BitsArgs),
    /// Time fills over a size sweep on the CPU path and the GPU, and print a table.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// Push a batch through a deep network and print the activations' std and the gradient
    /// norm per layer, for each scheme.
    #[command(allow_negative_numbers = true)]
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Layer widths of a fully connected network; W_i has shape (l[i], l[i-1]).
    /// The default (2,4,3,1) when no other source of tensors is given.
    #[arg(
        long,
        value_name = "WIDTHS",
        value_parser = parse_dims,
        allow_hyphen_values = true,
        group = "source",
        conflicts_with = "shape"
    )]
    layers: Option<Dims>,

    /// A tensor shape such as 512,256 (repeatable).
    #[arg(long, value_name = "DIMS", value_parser = parse_dims, allow_hyphen_values = true)]
    shape: Vec<Dims>,

    /// Names of the --shape tensors, in order (default W1, W2, ...).
    #[arg(long, requires = "shape")]
    name: Vec<String>,

    /// A model spec file (.json or .toml) listing tensors with shapes, schemes and dtypes.
    #[arg(long, value_name = "FILE", group = "source")]
    spec: Option<PathBuf>,

    /// A Hugging Face config.json (GPT-2 or Llama family): its state dict and published init.
    #[arg(long, value_name = "FILE", group = "source")]
    config: Option<PathBuf>,

    /// A built-in model: gpt2, gpt2-medium, llama-7b, llama-tiny.
    #[arg(long, group = "source")]
    preset: Option<String>,

    #[command(flatten)]
    scheme: SchemeArgs,

    /// Element type of every tensor: f32, f16 or bf16 (default f32, or the spec file's).
    #[arg(long, value_parser = parse_dtype)]
    dtype: Option<Dtype>,

    /// Seed (decimal or 0x-hex); default the spec file's, else drawn from the OS and printed.
    #[arg(long, value_parser = parse_u64, allow_hyphen_values = true)]
    seed: Option<u64>,

    /// Where to compute: auto (a hardware GPU, else the CPU), cpu, or gpu (any adapter).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,

    /// Write instead of printing: FILE.npy (one tensor), FILE.safetensors (all tensors), or a
    /// directory (model.safetensors, or shards with model.safetensors.index.json).
    #[arg(long, value_name = "PATH")]
    out: Option<PathBuf>,

    /// Replace existing output files.
    #[arg(long, requires = "out")]
    force: bool,

    /// Largest shard file when --out is a directory: bytes, or with B, kB, MB, GB, TB, KiB,
    /// MiB, GiB or TiB.
    #[arg(
        long,
        value_name = "SIZE",
        default_value = "5GB",
        value_parser = parse_size,
        allow_hyphen_values = true
    )]
    max_shard_size: u64,

    /// Write only this rank's slice of every tensor: RANK/WORLD, or auto (from torchrun's
    /// RANK and WORLD_SIZE, or SLURM_PROCID and SLURM_NTASKS).
    #[arg(long, value_name = "RANK/WORLD", allow_hyphen_values = true)]
    shard: Option<String>,

    /// The dimension split by --shard; tensors with fewer dimensions are written whole.
    #[arg(long, value_name = "D", default_value = "0", requires = "shard")]
    shard_dim: usize,

    /// Print, per tensor, the expected mean and std and the measured mean, std, min and max.
    #[arg(long)]
    stats: bool,
}

/// The scheme and its parameters; parameters a scheme does not take are an error.
#[derive(Debug, Args)]
struct SchemeArgs {
    /// PyTorch's: normal, uniform, trunc-normal, he-normal (he, kaiming-normal), he-uniform,
    /// xavier-normal (xavier, glorot-normal), xavier-uniform, lecun-normal, lecun-uniform,
    /// zeros, ones, constant, orthogonal, sparse, eye, dirac. JAX's: variance-scaling,
    /// jax-normal, jax-uniform, jax-truncated-normal, jax-glorot-normal, jax-glorot-uniform,
    /// jax-he-normal, jax-he-uniform, jax-lecun-normal, jax-lecun-uniform, jax-orthogonal,
    /// jax-delta-orthogonal. Parameters may follow in parentheses, e.g. "normal(std=0.02)",
    /// "variance-scaling(scale=2, mode=fan_in, distribution=uniform)". Default normal.
    #[arg(long)]
    scheme: Option<String>,
    /// Mean, for the schemes that take one (normal, trunc-normal).
    #[arg(long, allow_hyphen_values = true)]
    mean: Option<String>,
    /// Standard deviation, for the schemes that take one (normal, trunc-normal, sparse).
    #[arg(long, allow_hyphen_values = true)]
    std: Option<String>,
    /// Lower bound of uniform and trunc-normal.
    #[arg(long, allow_hyphen_values = true)]
    low: Option<String>,
    /// Upper bound of uniform and trunc-normal.
    #[arg(long, allow_hyphen_values = true)]
    high: Option<String>,
    /// Fan: fan_in or fan_out for he-*; also fan_avg or fan_geo_avg for variance-scaling.
    #[arg(long)]
    mode: Option<String>,
    /// Nonlinearity of he-*: linear, sigmoid, tanh, relu, leaky_relu, selu, conv2d, ...
    #[arg(long)]
    nonlinearity: Option<String>,
    /// Negative slope of leaky_relu for he-*.
    #[arg(long, allow_hyphen_values = true)]
    negative_slope: Option<String>,
    /// Gain of xavier-* and orthogonal.
    #[arg(long, allow_hyphen_values = true)]
    gain: Option<String>,
    /// Value of constant.
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
    /// Convolution groups for the fans of he-*, xavier-* and lecun-* (fan_out counts
    /// out / groups channels), and the groups of dirac.
    #[arg(long)]
    groups: Option<String>,
    /// Fans of he-*, xavier-* and lecun-* for a transposed convolution's (in, out / groups,
    /// *kernel) weight.
    #[arg(long)]
    transposed: bool,
    /// Scale of variance-scaling, jax-uniform, jax-orthogonal and jax-delta-orthogonal (the
    /// jax-glorot/he/lecun presets fix theirs).
    #[arg(long, allow_hyphen_values = true)]
    scale: Option<String>,
    /// Fraction of each column set to zero by sparse.
    #[arg(long)]
    sparsity: Option<String>,
}

#[derive(Debug, Args)]
struct BitsArgs {
    /// Seed (the Philox key), decimal or 0x-hex.
    #[arg(long, value_parser = parse_u64, default_value = "0")]
    seed: u64,
    /// Stream id (counter words 2 and 3).
    #[arg(long, value_parser = parse_u64, default_value = "0")]
    stream: u64,
    /// First block index (counter words 0 and 1).
    #[arg(long, value_parser = parse_u64, default_value = "0")]
    block: u64,
    /// Number of blocks.
    #[arg(long, value_parser = parse_u64, default_value = "1")]
    count: u64,
    /// Write the words as little-endian binary instead of hex, for test batteries.
    #[arg(long)]
    raw: bool,
    /// Where to compute: auto, cpu or gpu.
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceChoice,
}

#[derive(Debug, Args)]
struct BenchArgs {
    /// Elements per fill, comma-separated; each a count or 2^k (e.g. 65536,2^20).
    #[arg(
        long,
        value_name = "ELEMS",
        default_value = "2^16,2^18,2^20,2^22,2^24,2^26",
        value_parser = parse_sizes
    )]
    sizes: Dims,

    /// Element types, comma-separated: f32, f16, bf16.
    #[arg(long, value_name = "DTYPES", default_value = "f32", value_parser = parse_dtypes)]
    dtype: Dtypes,

    /// Where to measure: cpu, gpu (the best adapter, software ones included) or all (the CPU
    /// path, and the GPU when there is one).
    #[arg(long, default_value = "all", value_parser = parse_bench_devices)]
    device: BenchDevices,

    /// Timed fills per row, after one untimed warm-up fill; the table gives their median.
    #[arg(long, default_value = "5", value_parser = clap::value_parser!(u32).range(1..))]
    repeats: u32,

    /// The scheme of the filled tensor, as for init (e.g. "uniform", "normal(std=0.02)").
    #[arg(long, default_value = "normal", value_parser = parse_scheme)]
    scheme: Scheme,

    /// Also write the rows as a JSON array to FILE (replaced if present).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also plot M samples/s against size (log-log), one line per path and dtype, to
    /// FILE.svg or FILE.png (replaced if present).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,

    /// GPU rows for each of these invocations per workgroup, comma-separated (e.g.
    /// 64,128,256,512); the kernels' default (256) when absent.
    #[arg(
        long,
        value_name = "SIZES",
        value_delimiter = ',',
        value_parser = clap::value_parser!(u32).range(1..)
    )]
    workgroup_size: Vec<u32>,
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// Layers of the network.
    #[arg(long, default_value = "50")]
    depth: usize,

    /// Units per layer: every weight is width x width.
    #[arg(long, default_value = "512")]
    width: usize,

    /// Input rows (standard normal) pushed through together.
    #[arg(long, default_value = "256")]
    batch: usize,

    /// The activation after every layer: relu, tanh, linear, sigmoid, leaky_relu, selu.
    #[arg(long, default_value = "relu", value_parser = parse_activation)]
    activation: Nonlinearity,

    /// Schemes to compare, comma-separated, each as for init (e.g.
    /// "normal,he,xavier,xavier(gain=5/3)").
    #[arg(long, default_value = "normal,he,xavier")]
    scheme: String,

    /// Seed of the weights and the input (decimal or 0x-hex).
    #[arg(long, default_value = "0", value_parser = parse_u64)]
    seed: u64,

    /// Where to generate the weights: auto (a hardware GPU, else the CPU), cpu, or gpu (any
    /// adapter). The forward and backward passes run on the CPU.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,

    /// Also write the numbers as JSON to FILE (replaced if present).
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,

    /// Also plot the activations' std against the layer (log scale), one line per scheme, to
    /// FILE.svg or FILE.png (replaced if present).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
}

type Dims = Vec<u64>;
type Dtypes = Vec<Dtype>;

/// Parses `4,2` into dimensions, naming the bad part on failure.
fn parse_dims(s: &str) -> Result<Dims, String> {
    s.split(',')
        .map(|part| {
            let part = part.trim();
            part.parse::<u64>().map_err(|_| match part.parse::<i128>() {
                Ok(v) if v < 0 => format!("dimension {part} in {s:?} is negative"),
                Ok(_) => format!("dimension {part} in {s:?} does not fit in 64 bits"),
                Err(_) => format!("dimension {part:?} in {s:?} is not a non-negative integer"),
            })
        })
        .collect()
}

fn parse_u64(s: &str) -> Result<u64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16),
        None => s.replace('_', "").parse::<u64>(),
    };
    parsed.map_err(|e| format!("{s:?} is not a 64-bit unsigned integer ({e})"))
}

fn parse_dtype(s: &str) -> Result<Dtype, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

/// Bytes, optionally with a decimal (kB, MB, GB, TB) or binary (KiB, MiB, GiB, TiB) unit.
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        other => {
            return Err(format!(
                "unknown unit {other:?} in {s:?}; use B, kB, MB, GB, TB, KiB, MiB, GiB or TiB"
            ));
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{s:?} is not a size such as 5GB"))?;
    let bytes = value * factor as f64;
    if !(bytes >= 1.0 && bytes < u64::MAX as f64) {
        return Err(format!(
            "size {s:?} must be at least 1 byte and fit in 64 bits"
        ));
    }
    Ok(bytes as u64)
}

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_sizes(s: &str) -> Result<Dims, String> {
    bench::parse_sizes(s).map_err(|e| e.to_string())
}

fn parse_dtypes(s: &str) -> Result<Dtypes, String> {
    bench::parse_dtypes(s).map_err(|e| e.to_string())
}

fn parse_bench_devices(s: &str) -> Result<BenchDevices, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_activation(s: &str) -> Result<Nonlinearity, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

fn parse_scheme(s: &str) -> Result<Scheme, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

impl SchemeArgs {
    /// Whether any scheme option was given on the command line.
    fn any_given(&self) -> bool {
        self.scheme.is_some()
            || [
                &self.mean,
                &self.std,
                &self.low,
                &self.high,
                &self.mode,
                &self.nonlinearity,
                &self.negative_slope,
                &self.gain,
                &self.value,
                &self.groups,
                &self.scale,
                &self.sparsity,
            ]
            .iter()
            .any(|v| v.is_some())
            || self.transposed
    }

    /// The scheme string's name and inline parameters, then the flag parameters.
    fn scheme(&self) -> Result<Scheme, Error> {
        let text = self.scheme.as_deref().unwrap_or("normal");
        let (name, mut params) = weight_init::scheme::split_call(text)?;
        let flags = [
            ("mean", &self.mean),
            ("std", &self.std),
            ("low", &self.low),
            ("high", &self.high),
            ("mode", &self.mode),
            ("nonlinearity", &self.nonlinearity),
            ("negative_slope", &self.negative_slope),
            ("gain", &self.gain),
            ("value", &self.value),
            ("groups", &self.groups),
            ("scale", &self.scale),
            ("sparsity", &self.sparsity),
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                params.push((key, value.as_str()));
            }
        }
        if self.transposed {
            params.push(("transposed", "true"));
        }
        Scheme::from_parts(name, &params)
    }
}

fn main() -> ExitCode {
    // Mesa's software Vulkan driver prints an error when XDG_RUNTIME_DIR is unset, although
    // compute never uses it. Set before any thread exists, so the environment write is sound.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // SAFETY: the process is still single-threaded here.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    // A write past the file-size limit (`ulimit -f`) raises SIGXFSZ, whose default action
    // kills the process and leaves its temporary file behind. Ignored, the write fails with
    // EFBIG instead, which is reported as such and cleaned up like any other write error.
    #[cfg(unix)]
    // SAFETY: changing a signal's disposition to "ignore" installs no handler code, and the
    // process is still single-threaded.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // No subcommand: the full help, as a usage error.
                eprint!("{}", e.render());
                return ExitCode::from(2);
            }
            if e.use_stderr() {
                // One line: clap's message up to its usage hint, joined.
                let rendered = e.render().to_string();
                let message: Vec<&str> = rendered
                    .lines()
                    .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
                    .map(str::trim)
                    .collect();
                eprintln!("{}", message.join(" "));
                return ExitCode::from(2);
            }
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
    };
    init_logging(cli.verbose);

    let result = match &cli.command {
        Command::Init(args) => run_init(args),
        Command::Bits(args) => run_bits(args),
        Command::Bench(args) => run_bench(args),
        Command::Probe(args) => run_probe(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) ends the run; that is not a failure.
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            match e {
                Error::InvalidArgument { .. }
                | Error::FansUndefined { .. }
                | Error::TooLarge { .. } => ExitCode::from(2),
                Error::Interrupted => ExitCode::from(130),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Our crate at the chosen level; wgpu, naga and the rest only warn unless RUST_LOG says.
    let filter = format!("warn,weight_init={level}");
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(filter))
        .format_timestamp(None)
        .init();
}

/// A failed write to standard output, as an [`Error`].
fn stdout_error(source: io::Error) -> Error {
    Error::Io {
        action: "cannot write to",
        path: PathBuf::from("standard output"),
        source,
    }
}

/// The error and its sources on one line.
fn error_chain(e: &Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
}

fn run_init(args: &InitArgs) -> Result<(), Error> {
    let mut model = model(args)?;
    if let Some(dtype) = args.dtype {
        model = model.with_dtype(dtype);
    }
    let seed = args.seed.or(model.seed).unwrap_or_else(rand::random::<u64>);
    let shard = args.shard.as_deref().map(parse_shard).transpose()?;

    // Resolve every tensor and check the destination before any work, so bad input fails fast.
    let jobs = model
        .tensors
        .into_iter()
        .map(|spec| {
            let mut job = TensorJob::whole(spec, seed)?;
            if let Some((rank, world)) = shard {
                job.region = shard_region(&job.spec.shape, args.shard_dim, rank, world)?;
            }
            Ok(job)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    if shard.is_some()
        && jobs
            .iter()
            .all(|job| job.spec.shape.len() <= args.shard_dim)
    {
        log::warn!(
            "--shard-dim {} is past the last dimension of every tensor: each rank writes every \
             tensor whole",
            args.shard_dim
        );
    }
    let total_bytes = jobs.iter().try_fold(0u64, |sum, job| {
        sum.checked_add(job.len_bytes()?)
            .ok_or_else(|| Error::TooLarge {
                what: "output size",
                value: format!("the sum over {} tensors", jobs.len()),
                limit: format!("{} bytes", u64::MAX),
            })
    })?;
    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    let mut options = WriteOptions {
        overwrite,
        max_shard_bytes: args.max_shard_size,
        ..WriteOptions::default()
    };
    options
        .metadata
        .insert("weight_init.seed".into(), seed.to_string());
    let dest = match (args.out.as_deref(), shard) {
        (None, _) => None,
        (Some(out), None) => Some(Destination::from_path(out)?),
        (Some(out), Some((rank, world))) => {
            Some(Destination::from_path(out)?.for_rank(rank, world))
        }
    };
    if let Some((rank, world)) = shard {
        let slices: std::collections::BTreeMap<&str, &[u64]> = jobs
            .iter()
            .map(|j| (j.spec.name.as_str(), &j.region.offsets[..]))
            .collect();
        options.metadata.insert(
            "weight_init.shard".into(),
            format!("rank {rank} of {world} along dimension {}", args.shard_dim),
        );
        options.metadata.insert(
            "weight_init.slice_offsets".into(),
            serde_json::to_string(&slices).expect("a map of names to offsets serializes"),
        );
    }
    if let Some(dest) = &dest {
        weight_init::output::plan_files(&jobs, dest, &options)?;
        // SIGINT, SIGTERM and SIGHUP stop the writing between batches, so the temporary files
        // are removed; a second signal exits at once.
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        let installed = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        if let Err(e) = installed {
            log::warn!(
                "cannot catch interrupts ({e}); an interrupted run may leave a .partial file"
            );
        }
        options.cancel = Some(cancel);
    }
    if args.seed.is_none() && model.seed.is_none() {
        eprintln!("seed: {seed} (drawn at random; pass --seed {seed} to repeat)");
    }

    let engine = Engine::new(args.device)?;
    log::info!("computing on the {engine}");
    let mut stats: Vec<TensorStats> = jobs.iter().map(|_| TensorStats::default()).collect();
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());

    if let Some(dest) = &dest {
        let bar = progress_bar(total_bytes);
        let files = weight_init::output::write_checkpoint(
            &engine,
            &jobs,
            dest,
            &options,
            &mut |i, bytes| {
                bar.inc(bytes.len() as u64);
                if args.stats {
                    stats[i].add(&jobs[i].spec.dtype.decode(bytes));
                }
            },
        )?;
        bar.finish_and_clear();
        let elems: u64 = jobs.iter().map(|j| j.region.len_elems().unwrap_or(0)).sum();
        let noun = if jobs.len() == 1 { "tensor" } else { "tensors" };
        let elems_noun = if elems == 1 { "element" } else { "elements" };
        for file in &files {
            writeln!(out, "wrote {}", file.display()).map_err(stdout_error)?;
        }
        writeln!(
            out,
            "{} {noun}, {elems} {elems_noun}, {total_bytes} bytes",
            jobs.len()
        )
        .map_err(stdout_error)?;
    } else {
        for (job, stat) in jobs.iter().zip(&mut stats) {
            let values = stored_values(&engine, job)?;
            stat.add(&values);
            write!(
                out,
                "{}",
                display::notebook_block(&job.spec.name, &job.region.extents, &values)
            )
            .map_err(stdout_error)?;
        }
    }
    if args.stats {
        for (job, stat) in jobs.iter().zip(&stats) {
            let line = stat.line(&job.spec.name, &job.region.extents, &job.plan.distribution);
            writeln!(out, "{line}").map_err(stdout_error)?;
        }
    }
    out.flush().map_err(stdout_error)
}

/// The model the arguments name: a spec file, a config, a preset, --shape tensors or the
/// --layers network (default 2,4,3,1).
fn model(args: &InitArgs) -> Result<Model, Error> {
    if !args.name.is_empty() && args.shape.is_empty() {
        return Err(Error::InvalidArgument {
            what: "name",
            detail: "--name names --shape tensors; there are none".into(),
        });
    }
    let scheme_flags_given = args.scheme.any_given();
    let from_file = args.spec.is_some() || args.config.is_some() || args.preset.is_some();
    if from_file && scheme_flags_given {
        return Err(Error::InvalidArgument {
            what: "scheme",
            detail: "--scheme and its parameters apply to --layers and --shape tensors; \
                     --spec, --config and --preset carry their own schemes"
                .into(),
        });
    }
    if from_file && !args.shape.is_empty() {
        return Err(Error::InvalidArgument {
            what: "shape",
            detail: "--shape cannot be combined with --spec, --config or --preset".into(),
        });
    }
    if let Some(path) = &args.spec {
        return Model::from_spec_file(path);
    }
    if let Some(path) = &args.config {
        return Model::from_hf_config_file(path);
    }
    if let Some(name) = &args.preset {
        return Model::preset(name);
    }
    let scheme = args.scheme.scheme()?;
    if args.shape.is_empty() {
        let widths = args.layers.clone().unwrap_or_else(|| vec![2, 4, 3, 1]);
        return Model::new(layer_network(&widths, scheme)?);
    }
    if !args.name.is_empty() && args.name.len() != args.shape.len() {
        return Err(Error::InvalidArgument {
            what: "name",
            detail: format!(
                "{} --name values for {} --shape values; give one name per shape or none",
                args.name.len(),
                args.shape.len()
            ),
        });
    }
    let tensors = args
        .shape
        .iter()
        .enumerate()
        .map(|(i, shape)| {
            let name = args
                .name
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("W{}", i + 1));
            TensorSpec::new(name, shape.clone(), scheme)
        })
        .collect();
    Model::new(tensors)
}

/// A tensor's slice as stored (rounded to its dtype), as f32 for printing.
fn stored_values(engine: &Engine, job: &TensorJob) -> Result<Vec<f32>, Error> {
    let runs: Vec<(u64, u64)> = job.region.runs(&job.spec.shape).collect();
    let elems = job.region.len_elems()?;
    let len = usize::try_from(job.len_bytes()?)
        .ok()
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| Error::TooLarge {
            what: "tensor to print",
            value: format!("{} with {elems} elements", job.spec.name),
            limit: "the address space; write it with --out instead".into(),
        })?;
    let mut bytes: Vec<u8> = weight_init::error::try_zeroed(len as u64, || {
        format!("printing {} ({elems} elements)", job.spec.name)
    })?;
    engine.fill_runs(&job.plan, job.spec.dtype, &runs, &mut bytes)?;
    Ok(job.spec.dtype.decode(&bytes))
}

/// `RANK/WORLD`, or `auto` from torchrun's or SLURM's environment.
fn parse_shard(text: &str) -> Result<(u64, u64), Error> {
    let invalid = |detail: String| Error::InvalidArgument {
        what: "shard",
        detail,
    };
    // Each number with where it came from, for the error messages.
    let (rank, world) = if text == "auto" {
        let var = |name: &'static str| std::env::var(name).ok().map(|v| (v, name));
        let pair = |rank: &'static str, world: &'static str, launcher: &str| {
            let r = var(rank).expect("checked to be set");
            var(world).map(|w| (r, w)).ok_or_else(|| {
                invalid(format!(
                    "--shard auto found {rank} ({launcher}) but not {world} in the environment"
                ))
            })
        };
        if std::env::var_os("RANK").is_some() {
            pair("RANK", "WORLD_SIZE", "torchrun")?
        } else if std::env::var_os("SLURM_PROCID").is_some() {
            pair("SLURM_PROCID", "SLURM_NTASKS", "SLURM")?
        } else {
            return Err(invalid(
                "--shard auto needs RANK and WORLD_SIZE (torchrun) or SLURM_PROCID and \
                 SLURM_NTASKS in the environment"
                    .into(),
            ));
        }
    } else {
        let (r, w) = text
            .split_once('/')
            .ok_or_else(|| invalid(format!("{text:?} is not RANK/WORLD or auto")))?;
        ((r.to_string(), "RANK"), (w.to_string(), "WORLD"))
    };
    let number = |(s, name): &(String, &str)| {
        s.trim().parse::<u64>().map_err(|_| {
            invalid(format!(
                "{name} = {s:?} (from {text:?}) is not a non-negative integer"
            ))
        })
    };
    let (rank, world) = (number(&rank)?, number(&world)?);
    if world == 0 || rank >= world {
        return Err(invalid(format!(
            "rank {rank} of world size {world}: need 0 <= rank < world"
        )));
    }
    Ok((rank, world))
}

/// A byte-count progress bar on stderr for outputs of 64 MiB or more; indicatif hides it when
/// stderr is not a terminal.
fn progress_bar(total_bytes: u64) -> ProgressBar {
    if total_bytes < 64 << 20 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("a valid progress template"),
    );
    bar
}

fn run_bits(args: &BitsArgs) -> Result<(), Error> {
    // The last block read is `block + count - 1`, which must not pass 2^64 - 1.
    if args.count > 0 && args.block.checked_add(args.count - 1).is_none() {
        return Err(Error::InvalidArgument {
            what: "block range",
            detail: format!(
                "--block {} with --count {} passes block 2^64 - 1, where counters would wrap",
                args.block, args.count
            ),
        });
    }
    let engine = Engine::new(args.device)?;
    log::info!("computing on the {engine}");
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());

    // Blocks are generated in batches so that any count runs in bounded memory.
    const BATCH_BLOCKS: u64 = 1 << 18;
    let mut words = vec![0u32; (4 * BATCH_BLOCKS.min(args.count)) as usize];
    let mut done = 0u64;
    while done < args.count {
        let n = BATCH_BLOCKS.min(args.count - done) as usize;
        let batch = &mut words[..4 * n];
        engine.words(args.seed, args.stream, args.block.wrapping_add(done), batch)?;
        let written = if args.raw {
            let bytes: Vec<u8> = batch.iter().flat_map(|w| w.to_le_bytes()).collect();
            out.write_all(&bytes)
        } else {
            batch.chunks_exact(4).try_for_each(|b| {
                writeln!(out, "{:08x} {:08x} {:08x} {:08x}", b[0], b[1], b[2], b[3])
            })
        };
        match written {
            // A closed pipe (`| head`, a test battery that has read enough) ends the run.
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(()),
            other => other.map_err(stdout_error)?,
        }
        done += n as u64;
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(stdout_error),
    }
}

fn run_bench(args: &BenchArgs) -> Result<(), Error> {
    let config = BenchConfig {
        sizes_elems: args.sizes.clone(),
        dtypes: args.dtype.clone(),
        scheme: args.scheme,
        repeats: args.repeats as usize,
        ..BenchConfig::default()
    };
    config.validate()?;
    if args.device == BenchDevices::Cpu && !args.workgroup_size.is_empty() {
        return Err(Error::InvalidArgument {
            what: "--workgroup-size",
            detail: "sets the GPU kernels' workgroups, and --device cpu measures no GPU".into(),
        });
    }
    // Each size once, in the order given (as for --sizes and --dtype).
    let mut workgroup_sizes = args.workgroup_size.clone();
    let mut seen = std::collections::HashSet::new();
    workgroup_sizes.retain(|&size| seen.insert(size));
    // Report files are opened (and so checked) before anything is measured.
    let (json, plot) = ReportFile::pair(args.json.as_deref(), args.plot.as_deref())?;
    let lineup = bench::open_engines(args.device, &workgroup_sizes)?;
    for engine in &lineup.engines {
        log::info!("measuring the {engine}");
    }

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let table = Table::new(&lineup.engines);
    writeln!(out, "{}", table.header()).map_err(stdout_error)?;
    out.flush().map_err(stdout_error)?;
    let rows = bench::run(&config, &lineup.engines, |row| {
        writeln!(out, "{}", table.row(row)).map_err(stdout_error)?;
        out.flush().map_err(stdout_error)
    })?;

    if rows.iter().any(|r| r.device == PathKind::Gpu) {
        let clocks = |clock| rows.iter().any(|r| r.kernel_clock == Some(clock));
        let clock = match (clocks(KernelClock::Timestamp), clocks(KernelClock::Host)) {
            (true, false) => "GPU timestamps around the fill's passes",
            (false, true) => "host clock around submit and wait",
            _ => "GPU timestamps where the adapter has them, else the host clock",
        };
        writeln!(
            out,
            "note: GPU times are end to end (buffers, dispatch, wait, readback); `kernel` is the \
             device-only time of a fill into a device buffer, no readback ({clock}); `of bw` is \
             the device's own clear of that buffer, on the same clock, divided by `kernel`"
        )
        .map_err(stdout_error)?;
    }
    if rows
        .iter()
        .any(|r| r.device == PathKind::Gpu && r.kernel_median_s.is_none())
    {
        writeln!(
            out,
            "note: some GPU rows have no device-only time (n/a): the buffer did not fit the \
             device"
        )
        .map_err(stdout_error)?;
    }
    for note in &lineup.notes {
        writeln!(out, "note: {note}").map_err(stdout_error)?;
    }
    for file in [json, plot].into_iter().flatten() {
        let path = file.write(rows.as_slice())?;
        writeln!(out, "wrote {}", path.display()).map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}

fn run_probe(args: &ProbeArgs) -> Result<(), Error> {
    let config = ProbeConfig {
        depth: args.depth,
        width: args.width,
        batch: args.batch,
        activation: args.activation,
        seed: args.seed,
    };
    config.validate()?;
    let schemes = probe::parse_schemes(&args.scheme)?;
    // Report files are opened (and so checked) before any work.
    let (json, plot) = ReportFile::pair(args.json.as_deref(), args.plot.as_deref())?;
    let engine = Engine::new(args.device)?;
    log::info!("generating weights on the {engine}; forward and backward on the CPU");
    let report = probe::run(&config, &schemes, &engine)?;

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    write!(
        out,
        "{}\n{}",
        probe::activation_table(&report),
        probe::gradient_table(&report)
    )
    .map_err(stdout_error)?;
    for file in [json, plot].into_iter().flatten() {
        let path = file.write(&report)?;
        writeln!(out, "wrote {}", path.display()).map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}
