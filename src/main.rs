//! The `weight-init` command: parse arguments, set up logging, call the library, map errors to
//! exit codes. No algorithm lives here.

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use weight_init::engine::{DeviceChoice, Engine};
use weight_init::output::{Overwrite, TensorData};
use weight_init::scheme::Scheme;
use weight_init::spec::{TensorSpec, layer_network};
use weight_init::{Error, display};

/// Initialize neural-network weights with Philox4x32-10, identically on the GPU and the CPU.
#[derive(Debug, Parser)]
#[command(name = "weight-init", version)]
struct Cli {
    /// More log output: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

// The enum is built once per run, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    /// Initialize tensors and print them (or write them with --out).
    Init(InitArgs),
    /// Print raw Philox4x32-10 words, one block of four per line.
    Bits(BitsArgs),
}

#[derive(Debug, Args)]
struct InitArgs {
    /// Layer widths of a fully connected network; W_i has shape (l[i], l[i-1]).
    /// Default 2,4,3,1 when no --shape is given.
    #[arg(long, value_name = "WIDTHS", value_parser = parse_dims, allow_hyphen_values = true,
          conflicts_with = "shape")]
    layers: Option<Dims>,

    /// A tensor shape such as 512,256 (repeatable).
    #[arg(long, value_name = "DIMS", value_parser = parse_dims, allow_hyphen_values = true)]
    shape: Vec<Dims>,

    /// Names of the --shape tensors, in order (default W1, W2, ...).
    #[arg(long, requires = "shape")]
    name: Vec<String>,

    #[command(flatten)]
    scheme: SchemeArgs,

    /// Seed (decimal or 0x-hex); drawn from the OS and printed when absent.
    #[arg(long, value_parser = parse_u64)]
    seed: Option<u64>,

    /// Where to compute: auto (a hardware GPU, else the CPU), cpu, or gpu (any adapter).
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: DeviceChoice,

    /// Write the tensors to FILE: .npy (one tensor) or .safetensors (all).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Replace --out if it exists.
    #[arg(long, requires = "out")]
    force: bool,

    /// Print, per tensor, the expected std and the measured mean, std, min and max.
    #[arg(long)]
    stats: bool,
}

/// The scheme and its parameters; parameters a scheme does not take are an error.
#[derive(Debug, Args)]
struct SchemeArgs {
    /// normal, uniform, he-normal (he, kaiming-normal), he-uniform, xavier-normal (xavier,
    /// glorot-normal), xavier-uniform, lecun-normal, lecun-uniform, zeros, ones, constant;
    /// parameters may follow in parentheses, e.g. "normal(std=0.02)".
    #[arg(long, default_value = "normal")]
    scheme: String,
    /// Mean of normal.
    #[arg(long, allow_hyphen_values = true)]
    mean: Option<String>,
    /// Standard deviation of normal.
    #[arg(long, allow_hyphen_values = true)]
    std: Option<String>,
    /// Lower bound of uniform.
    #[arg(long, allow_hyphen_values = true)]
    low: Option<String>,
    /// Upper bound of uniform.
    #[arg(long, allow_hyphen_values = true)]
    high: Option<String>,
    /// Fan of he-*: fan_in or fan_out.
    #[arg(long)]
    mode: Option<String>,
    /// Nonlinearity of he-*: linear, sigmoid, tanh, relu, leaky_relu, selu, conv2d, ...
    #[arg(long)]
    nonlinearity: Option<String>,
    /// Negative slope of leaky_relu for he-*.
    #[arg(long, allow_hyphen_values = true)]
    negative_slope: Option<String>,
    /// Gain of xavier-*.
    #[arg(long, allow_hyphen_values = true)]
    gain: Option<String>,
    /// Value of constant.
    #[arg(long, allow_hyphen_values = true)]
    value: Option<String>,
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

type Dims = Vec<u64>;

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

fn parse_device(s: &str) -> Result<DeviceChoice, String> {
    s.parse().map_err(|e: Error| e.to_string())
}

impl SchemeArgs {
    /// The scheme string's name and inline parameters, then the flag parameters.
    fn scheme(&self) -> Result<Scheme, Error> {
        let (name, mut params) = weight_init::scheme::split_call(&self.scheme)?;
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
        ];
        for (key, value) in flags {
            if let Some(value) = value {
                params.push((key, value.as_str()));
            }
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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if e.use_stderr() {
                // One line: clap's first line names the argument and the problem.
                let rendered = e.render().to_string();
                eprintln!("{}", rendered.lines().next().unwrap_or("invalid arguments"));
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            match e {
                Error::InvalidArgument { .. } | Error::FansUndefined { .. } => ExitCode::from(2),
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level))
        .format_timestamp(None)
        .init();
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
    let scheme = args.scheme.scheme()?;
    let tensors = tensor_specs(args, scheme)?;
    let seed = args.seed.unwrap_or_else(rand::random::<u64>);
    // Resolve every plan before any work, so a bad tensor fails fast.
    let plans = tensors
        .iter()
        .map(|t| t.plan(seed))
        .collect::<Result<Vec<_>, _>>()?;

    let overwrite = if args.force {
        Overwrite::Replace
    } else {
        Overwrite::Refuse
    };
    if let Some(path) = &args.out {
        weight_init::output::check_destination(path, overwrite)?;
    }

    if args.seed.is_none() {
        eprintln!("seed: {seed} (drawn at random; pass --seed {seed} to repeat)");
    }

    let engine = Engine::new(args.device)?;
    log::info!("computing on the {engine}");
    let values = plans
        .iter()
        .map(|p| engine.fill(p))
        .collect::<Result<Vec<_>, _>>()?;

    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let io_err = |source| Error::Io {
        action: "cannot write to",
        path: PathBuf::from("standard output"),
        source,
    };
    if let Some(path) = &args.out {
        let data: Vec<TensorData<'_>> = tensors
            .iter()
            .zip(&values)
            .map(|(t, v)| TensorData {
                name: &t.name,
                shape: &t.shape,
                values: v,
            })
            .collect();
        weight_init::output::write(path, &data, overwrite)?;
        let total: u64 = plans.iter().map(|p| p.len_elems).sum();
        let noun = if tensors.len() == 1 {
            "tensor"
        } else {
            "tensors"
        };
        writeln!(
            out,
            "wrote {} {noun} ({total} elements) to {}",
            tensors.len(),
            path.display()
        )
        .map_err(io_err)?;
    } else {
        for (t, v) in tensors.iter().zip(&values) {
            write!(out, "{}", display::notebook_block(&t.name, &t.shape, v)).map_err(io_err)?;
        }
    }
    if args.stats {
        for ((t, p), v) in tensors.iter().zip(&plans).zip(&values) {
            writeln!(out, "{}", stats_line(t, p, v)).map_err(io_err)?;
        }
    }
    out.flush().map_err(io_err)
}

fn tensor_specs(args: &InitArgs, scheme: Scheme) -> Result<Vec<TensorSpec>, Error> {
    if args.shape.is_empty() {
        let widths = args.layers.clone().unwrap_or_else(|| vec![2, 4, 3, 1]);
        return layer_network(&widths, scheme);
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
    let mut specs: Vec<TensorSpec> = Vec::new();
    for (i, shape) in args.shape.iter().enumerate() {
        let name = args
            .name
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("W{}", i + 1));
        if specs.iter().any(|s| s.name == name) {
            return Err(Error::InvalidArgument {
                what: "name",
                detail: format!("tensor name {name:?} is used twice"),
            });
        }
        specs.push(TensorSpec::new(name, shape.clone(), scheme));
    }
    Ok(specs)
}

fn stats_line(t: &TensorSpec, plan: &weight_init::spec::FillPlan, v: &[f32]) -> String {
    let n = v.len() as f64;
    if v.is_empty() {
        return format!(
            "{}: shape {}, no elements",
            t.name,
            display::shape_tuple(&t.shape)
        );
    }
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = v
        .iter()
        .map(|&x| (f64::from(x) - mean).powi(2))
        .sum::<f64>()
        / n;
    let min = v.iter().copied().fold(f32::INFINITY, f32::min);
    let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    format!(
        "{}: shape {}, {} elements, expected mean {:.6} std {:.6}; measured mean {:.6} std {:.6} min {:.6} max {:.6}",
        t.name,
        display::shape_tuple(&t.shape),
        v.len(),
        plan.distribution.mean(),
        plan.distribution.std(),
        mean,
        var.sqrt(),
        min,
        max
    )
}

fn run_bits(args: &BitsArgs) -> Result<(), Error> {
    let engine = Engine::new(args.device)?;
    log::info!("computing on the {engine}");
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let io_err = |source| Error::Io {
        action: "cannot write to",
        path: PathBuf::from("standard output"),
        source,
    };

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
            other => other.map_err(io_err)?,
        }
        done += n as u64;
    }
    match out.flush() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(io_err),
    }
}
