//! Bad input across every layer, in one table: the command line, spec files (JSON and TOML),
//! Hugging Face configs and the library API. Each entry names the exact error it must give
//! (the [`Error`] variant and its `what`, or for the command line the exit status) and a
//! piece of text that must appear in the message: the offending value, or the name of the
//! rule it broke. A panic anywhere is a failure of that entry, not of the whole table.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::process::Command;

use weight_init::Error;
use weight_init::dtype::Dtype;
use weight_init::engine::Engine;
use weight_init::gpu::GpuContext;
use weight_init::model::{MAX_SPEC_BYTES, Model, SpecFormat};
use weight_init::scheme::Scheme;
use weight_init::slice::{Region, shard_range, shard_region};
use weight_init::spec::TensorSpec;

/// The error an input must give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// [`Error::InvalidArgument`] with this `what`.
    Invalid(&'static str),
    /// [`Error::FansUndefined`].
    FansUndefined,
    /// [`Error::TooLarge`] with this `what`.
    TooLarge(&'static str),
    /// [`Error::OutOfMemory`].
    OutOfMemory,
    /// [`Error::Io`].
    Io,
    /// The command exits with this status (2: bad arguments, 1: a failure while working).
    Exit(i32),
}

/// Where an input goes in.
enum Input {
    /// Arguments of the `weight-init` binary, run in a fresh directory; `{dir}` in an argument
    /// stands for that directory, which holds a file `exists.npy`.
    Cli(&'static [&'static str]),
    /// Spec text, parsed as JSON.
    Json(&'static str),
    /// Spec text, parsed as TOML.
    Toml(&'static str),
    /// The text of a Hugging Face `config.json`.
    Config(&'static str),
    /// A library call, given a fresh directory.
    Api(fn(&Path) -> weight_init::Result<()>),
    /// A library call on the GPU (skipped, visibly, without an adapter).
    Gpu(fn(&GpuContext) -> weight_init::Result<()>),
}

struct Case {
    input: Input,
    want: Want,
    /// Text the message must contain.
    needle: &'static str,
}

const fn case(input: Input, want: Want, needle: &'static str) -> Case {
    Case {
        input,
        want,
        needle,
    }
}

use Input::{Api, Cli, Config, Gpu, Json, Toml};
use Want::{Exit, FansUndefined, Invalid, OutOfMemory, TooLarge};

fn scheme(text: &str) -> weight_init::Result<()> {
    text.parse::<Scheme>().map(drop)
}

fn scheme_of(text: &str) -> Scheme {
    text.parse().expect("a valid scheme")
}

fn plan(shape: Vec<u64>, scheme: &str) -> weight_init::Result<()> {
    TensorSpec::new("w", shape, scheme.parse()?)
        .plan(0)
        .map(drop)
}

fn spec_file(dir: &Path, name: &str, bytes: &[u8]) -> weight_init::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    Model::from_spec_file(&path).map(drop)
}

fn small_plan() -> weight_init::spec::FillPlan {
    TensorSpec::new("w", vec![4, 4], Scheme::default())
        .plan(0)
        .unwrap()
}

const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE;

/// Records a fill of the small plan into a new 64-byte buffer of `usage`.
fn record(
    gpu: &GpuContext,
    usage: wgpu::BufferUsages,
    dtype: Dtype,
    first: u64,
    len: u64,
    offset: u64,
) -> weight_init::Result<()> {
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("bad_input"),
        size: 64,
        usage,
        mapped_at_creation: false,
    });
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_fill(
        &mut encoder,
        &small_plan(),
        dtype,
        first,
        len,
        &buffer,
        offset,
    )
}

#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        // Command line: dimensions.
        case(Cli(&["init", "--layers", "2,0,1"]), Exit(2), "width 0"),
        case(Cli(&["init", "--layers", "2,x"]), Exit(2), "\"x\""),
        case(Cli(&["init", "--layers", "2"]), Exit(2), "[2]"),
        case(Cli(&["init", "--shape", "4,-2"]), Exit(2), "-2"),
        case(Cli(&["init", "--shape", "4,2.5"]), Exit(2), "2.5"),
        case(Cli(&["init", "--shape", "99999999999999999999"]), Exit(2), "99999999999999999999"),
        // 2^64 elements: the count itself overflows.
        case(Cli(&["init", "--shape", "4294967296,4294967296"]), Exit(2), "4294967296"),
        // 2^62 f32 elements: the count fits, its 2^64 bytes do not.
        case(Cli(&["init", "--shape", "2147483648,2147483648"]), Exit(2), "2147483648"),
        case(Cli(&["init", "--shape", "2147483648,2147483648", "--out", "w.safetensors"]),
             Exit(2), "2147483648"),
        // Each tensor fits, their sum does not.
        case(Cli(&["init", "--shape", "4", "--shape", "4611686018427387903", "--out", "d"]),
             Exit(2), "output size"),
        // Command line: schemes and their parameters.
        case(Cli(&["init", "--scheme", "nope"]), Exit(2), "nope"),
        case(Cli(&["init", "--std", "-1"]), Exit(2), "-1"),
        case(Cli(&["init", "--std", "nan"]), Exit(2), "NaN"),
        case(Cli(&["init", "--scheme", "normal(std=-1)"]), Exit(2), "-1"),
        case(Cli(&["init", "--scheme", "uniform", "--low", "3", "--high", "1"]), Exit(2), "low 3"),
        case(Cli(&["init", "--scheme", "he", "--shape", "5"]), Exit(2), "[5]"),
        case(Cli(&["init", "--scheme", "he", "--nonlinearity", "swish"]), Exit(2), "swish"),
        case(Cli(&["init", "--dtype", "f8"]), Exit(2), "f8"),
        case(Cli(&["init", "--device", "tpu"]), Exit(2), "tpu"),
        case(Cli(&["init", "--seed", "abc"]), Exit(2), "abc"),
        case(Cli(&["init", "--seed", "-1"]), Exit(2), "-1"),
        case(Cli(&["init", "--max-shard-size", "5XB", "--out", "d"]), Exit(2), "xb"),
        // Command line: contradictory flags.
        case(Cli(&["init", "--scheme", "he", "--std", "2"]), Exit(2), "std"),
        case(Cli(&["init", "--layers", "2,3", "--shape", "3"]), Exit(2), "--shape"),
        case(Cli(&["init", "--preset", "gpt2", "--scheme", "he"]), Exit(2), "--scheme"),
        case(Cli(&["init", "--spec", "a.json", "--preset", "gpt2"]), Exit(2), "--preset"),
        case(Cli(&["init", "--force"]), Exit(2), "--out"),
        case(Cli(&["init", "--shape", "2", "--shape", "3", "--name", "a"]), Exit(2), "name"),
        case(Cli(&["init", "--shape", "2", "--shape", "3", "--name", "a", "--name", "a"]),
             Exit(2), "\"a\" appears twice"),
        case(Cli(&["bits", "--count", "-1"]), Exit(2), "-1"),
        case(Cli(&["bits", "--block", "0xffffffffffffffff", "--count", "2"]), Exit(2), "--count 2"),
        case(Cli(&["bench", "--device", "cpu", "--workgroup-size", "64"]), Exit(2), "--workgroup-size"),
        case(Cli(&["bench", "--device", "cpu", "--sizes", "2^63"]), Exit(2), "9223372036854775808 elements"),
        case(Cli(&["bench", "--sizes", "2^16", "--json", "{dir}/r.svg", "--plot", "{dir}/r.svg"]), Exit(2), "both name"),
        case(Cli(&["probe", "--depth", "-1"]), Exit(2), "'-1' for '--depth"),
        case(Cli(&["init", "--shape", "4", "--shard", "-1/4"]), Exit(2), "RANK = \"-1\""),
        case(Cli(&["bench", "--device", "gpu", "--workgroup-size", "0"]), Exit(2), "0"),
        case(Cli(&["frobnicate"]), Exit(2), "frobnicate"),
        // Command line: shards.
        case(Cli(&["init", "--shard", "3/3", "--out", "w.npy", "--shape", "4"]), Exit(2), "rank 3"),
        case(Cli(&["init", "--shard", "0/0", "--out", "w.npy", "--shape", "4"]), Exit(2), "size 0"),
        case(Cli(&["init", "--shard", "one/2", "--out", "w.npy", "--shape", "4"]), Exit(2), "\"one\""),
        // Command line: output paths.
        case(Cli(&["init", "--out", "weights.txt"]), Exit(2), "weights.txt"),
        case(Cli(&["init", "--shape", "2,2", "--out", "/no/such/dir/w.npy"]), Exit(2), "/no/such/dir"),
        case(Cli(&["init", "--shape", "2,2", "--out", "{dir}/exists.npy"]), Exit(2), "exists.npy already exists"),
        case(Cli(&["init", "--shape", "2,2", "--out", "{dir}/w.safetensors/"]), Exit(2), "ends in '/'"),
        case(Cli(&["init", "--shape", "2,2", "--out", "/dev/null"]), Exit(2), "exists and is not a directory"),
        case(Cli(&["init", "--shape", "1000000000,1000000000", "--out", "{dir}/big.npy"]), Exit(2),
             "needs 4000000000000000128 bytes"),
        // A regular file used as a directory.
        case(Cli(&["init", "--shape", "2,2", "--out", "{dir}/exists.npy/w.npy"]), Exit(2),
             "exists.npy is not a directory"),
        // A directory nobody may create files in, root included (tests may run as root, for
        // whom permission bits do not stop a write): sysfs, which refuses new files to everyone.
        case(Cli(&["init", "--shape", "2,2", "--out", "/sys/w.npy"]), Exit(2), "cannot create files in /sys"),
        case(Cli(&["init", "--spec", "{dir}/missing.json"]), Exit(1), "missing.json"),

        // Spec files, JSON.
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2, -1]}]}"#), Invalid("spec file"), "-1"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2, "x"]}]}"#), Invalid("spec file"), "\"x\""),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [18446744073709551616]}]}"#),
             Invalid("spec file"), "1.8446744073709552e+19"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [4294967296, 4294967296]}]}"#),
             TooLarge("element count"), "4294967296"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2], "stream": 5}, {"name": "b", "shape": [2], "stream": 5}]}"#),
             Invalid("stream"), "share stream 0x5"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2, 2], "scheme": "swish"}]}"#),
             Invalid("scheme"), "swish"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2], "scheme": "he"}]}"#), FansUndefined, "[2]"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [], "scheme": "xavier"}]}"#), FansUndefined, "[]"),
        case(Json(r#"{"tensors": [{"name": "bias7", "shape": [2], "scheme": "xavier"}]}"#), FansUndefined, "tensor \"bias7\""),
        case(Json(r#"{"tensors": []}"#), Invalid("spec file"), "empty"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2]}, {"name": "a", "shape": [3]}]}"#),
             Invalid("tensor name"), "\"a\" appears twice"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2], "dtype": "f8"}]}"#), Invalid("dtype"), "f8"),
        case(Json(r#"{"dtype": "int8", "tensors": []}"#), Invalid("dtype"), "int8"),
        case(Json(r#"{"tensors": [{"name": "a", "shape": [2], "scheme": "normal(std=inf)"}]}"#),
             Invalid("scheme"), "std: inf is not a finite number (tensor \"a\")"),
        case(Json(r#"{"tensors": [{"name": "a", "shap": [2]}]}"#), Invalid("spec file"), "shap"),
        // A key with a newline, quoted by the parser's message (found by cargo-fuzz).
        case(Json(r#"{"tensors\nx": []}"#), Invalid("spec file"), "`tensors\\nx`"),
        case(Json(r#"{"tensors": [{"name": "a", "#), Invalid("spec file"), "EOF"),
        case(Json(""), Invalid("spec file"), "EOF"),
        case(Json("[1, 2]"), Invalid("spec file"), "line 1 column 2"),
        case(Json(r#"{"seed": -3, "tensors": []}"#), Invalid("spec file"), "-3"),

        // Spec files, TOML.
        case(Toml("[[tensors]]\nname = \"a\"\nshape = [2,"), Invalid("spec file"), "line 3"),
        case(Toml("[[tensors]]\nname = \"a\"\nname = \"b\"\nshape = [2]"), Invalid("spec file"), "duplicate key"),
        case(Toml("[[tensors]]\nname = \"a\"\nshape = [2.5]"), Invalid("spec file"), "line 3"),
        // A key at the start of its line is reported on that line, not the one before.
        case(Toml("[[tensors]]\nname = \"a\"\nshape = [2]\nbogus = 3"), Invalid("spec file"), "line 4"),
        case(Toml("[[tensors]]\nname = \"a\"\nshape = [2]\nscheme = \"uniform(low=1, high=0)\""),
             Invalid("scheme"), "low 1 is greater than high 0"),
        case(Toml("[[tensors]]\nname = \"a\"\nshape = [2]\nscheme = \"he(nonlinearity=swish)\""),
             Invalid("scheme"), "swish"),
        case(Toml("colour = 3\ntensors = []"), Invalid("spec file"), "colour"),

        // Spec files on disk: size, encoding, extension, existence.
        case(Api(|dir| {
            let path = dir.join("huge.json");
            std::fs::File::create(&path).unwrap().set_len(MAX_SPEC_BYTES + 1).unwrap();
            Model::from_spec_file(&path).map(drop)
        }), TooLarge("spec file"), "huge.json"),
        case(Api(|dir| spec_file(dir, "latin1.json", b"{\"t\xe9\": 1}")), Invalid("spec file"), "byte 3"),
        case(Api(|dir| spec_file(dir, "model.yaml", b"tensors: []")), Invalid("spec file"), "model.yaml"),
        case(Api(|dir| Model::from_spec_file(&dir.join("absent.toml")).map(drop)), Want::Io, "absent.toml"),
        case(
            Api(|dir| {
                let path = dir.join("latin1.json");
                std::fs::write(&path, b"{\"tensors\": [\xe9]}").unwrap();
                Model::from_spec_file(&path).map(drop)
            }),
            Invalid("spec file"),
            "latin1.json",
        ),

        // Hugging Face configs.
        case(Config("{}"), Invalid("config"), "model_type"),
        case(Config(r#"{"model_type": "bert"}"#), Invalid("config"), "\"bert\""),
        case(Config(r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 12, "intermediate_size": 8,
                        "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 5}"#),
             Invalid("config"), "num_key_value_heads 5 does not divide num_attention_heads 3"),
        case(Config("{\"model_type\": \"gpt2\""), Invalid("config"), "EOF"),
        case(Config(r#"{"model_type": "gpt2", "vocab_size": 10, "n_embd": 0, "n_layer": 1}"#),
             Invalid("config"), "\"n_embd\" must be a positive integer, got 0"),
        case(Config(r#"{"model_type": "gpt2", "vocab_size": 10, "n_embd": "big", "n_layer": 1}"#),
             Invalid("config"), "\"big\""),
        case(Config(r#"{"model_type": "gpt2", "vocab_size": 10, "n_embd": 8, "n_layer": 1,
                        "initializer_range": -1}"#), Invalid("config"), "-1"),
        case(Config(r#"{"model_type": "gpt2", "vocab_size": 10, "n_embd": 4611686018427387904,
                        "n_layer": 1}"#), TooLarge("config dimension"), "4611686018427387904"),
        case(Config(r#"{"model_type": "gpt2", "vocab_size": 10, "n_embd": 8,
                        "n_layer": 1000000000000}"#), TooLarge("config layer count"), "1000000000000"),
        case(Config(r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
                        "intermediate_size": 8, "num_hidden_layers": 1,
                        "num_attention_heads": 16}"#), Invalid("config"), "16"),
        case(Config(r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
                        "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "head_dim": 9223372036854775808}"#),
             TooLarge("config dimension"), "9223372036854775808"),
        case(Config(r#"{"model_type": "llama", "vocab_size": 10, "hidden_size": 8,
                        "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
                        "head_dim": 9223372036854775807}"#),
             TooLarge("element count"), "model.layers.0.self_attn.q_proj.weight"),
        // Nesting past the JSON parser's recursion limit.
        case(Api(|_| {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            Model::from_hf_config_str(&deep).map(drop)
        }), Invalid("config"), "recursion limit"),

        // Library API: schemes.
        case(Api(|_| scheme("nope")), Invalid("scheme"), "\"nope\""),
        case(Api(|_| scheme("he(nonlinearity=swish)")), Invalid("nonlinearity"), "\"swish\""),
        case(Api(|_| scheme("he(mode=fan_avg)")), Invalid("mode"), "\"fan_avg\""),
        case(Api(|_| scheme("normal(std=-1)")), Invalid("std"), "-1"),
        case(Api(|_| scheme("normal(std=nan)")), Invalid("std"), "NaN"),
        case(Api(|_| scheme("normal(mean=-inf)")), Invalid("mean"), "-inf"),
        case(Api(|_| scheme("normal(std=abc)")), Invalid("scheme parameter"), "\"abc\""),
        case(Api(|_| scheme("normal(std=1e38)")), Invalid("std"), "past the largest f32"),
        case(Api(|_| scheme("normal(std=1")), Invalid("scheme"), "normal(std=1"),
        case(Api(|_| scheme("uniform(low=3, high=1)")), Invalid("uniform bounds"), "low 3 is greater than high 1"),
        case(Api(|_| scheme("xavier(gain=-2)")), Invalid("gain"), "-2"),
        case(Api(|_| scheme("ones(value=5)")), Invalid("scheme parameter"), "value"),
        case(Api(|_| scheme("normal(std=1, std=2)")), Invalid("scheme parameter"), "std is given twice"),
        case(Api(|_| scheme("he(nonlinearity=tanh, a=0.1)")), Invalid("scheme parameter"), "tanh"),
        case(Api(|_| scheme("constant(value=1e39)")), Invalid("value"), "does not fit in f32"),
        case(Api(|_| scheme("normal(std=1e400)")), Invalid("scheme parameter"), "1e400"),
        case(Api(|_| scheme("normal(std=1)x")), Invalid("scheme"), "text after its closing"),
        case(Api(|_| scheme("jax-he-normal(in_axis=(0,)")), Invalid("scheme"), "unbalanced"),
        case(Api(|_| scheme("normal(,)")), Invalid("scheme"), "empty parameter"),
        case(Api(|_| TensorSpec::new("__metadata__", vec![2], Scheme::default()).plan(0).map(drop)),
             Invalid("tensor name"), "reserved"),
        case(Api(|_| {
            let plan = TensorSpec::new("w", vec![4], scheme_of("trunc-normal(mean=1e5, std=1, a=99999, b=100001)"))
                .plan(0)?;
            weight_init::cpu::fill_range_as(&plan, Dtype::F16, 0, &mut [0u8; 8])
        }), Invalid("truncation bounds"), "no f16 value"),
        case(Api(|_| scheme("trunc-normal(a=2, b=1)")), Invalid("truncation bounds"), "a = 2 must be below b = 1"),
        case(Api(|_| scheme("trunc-normal(std=-0.5)")), Invalid("std"), "-0.5"),
        case(Api(|_| scheme("trunc-normal(a=13, b=inf)")), Invalid("truncation bounds"), "holds probability"),
        case(Api(|_| scheme("jax-truncated-normal(lower=3, upper=-3)")), Invalid("truncation bounds"), "below b"),
        case(Api(|_| scheme("variance-scaling(scale=1, mode=fan_in)")), Invalid("scheme parameter"), "distribution is missing"),
        case(Api(|_| scheme("variance-scaling(scale=-1, mode=fan_in, distribution=normal)")), Invalid("scale"), "-1"),
        case(Api(|_| scheme("jax-he-normal(mode=fan_out)")), Invalid("scheme parameter"), "fixes mode"),
        case(Api(|_| scheme("sparse(sparsity=nan)")), Invalid("sparsity"), "sparsity"),
        case(Api(|_| scheme("he(groups=0)")), Invalid("groups"), "0"),
        case(Api(|_| scheme("he(transposed=maybe)")), Invalid("scheme parameter"), "maybe"),
        case(Api(|_| plan(vec![4, 4, 4], "sparse(sparsity=0.5)")), Invalid("shape"), "[4, 4, 4]"),
        case(Api(|_| plan(vec![4, 4], "dirac")), Invalid("shape"), "3, 4 or 5 dimensions"),
        case(Api(|_| plan(vec![3, 6, 4], "jax-delta-orthogonal")), Invalid("shape"), "in 6 > out 4"),
        case(Api(|_| plan(vec![4, 4], "jax-glorot-normal(in_axis=(0, 0))")), Invalid("axis"), "named twice"),
        case(Api(|_| plan(vec![4, 4], "variance-scaling(scale=1, mode=fan_in, distribution=normal, out_axis=2)")), Invalid("axis"), "out_axis 2"),
        case(Api(|_| plan(vec![1 << 14, 1 << 13], "orthogonal")), TooLarge("orthogonal matrix"), "67108864"),
        // Zero-element tensors keep the scheme's shape rules, as PyTorch's eye_, dirac_,
        // sparse_, xavier_*_ and JAX's delta_orthogonal do.
        case(Api(|_| plan(vec![0], "eye")), Invalid("shape"), "exactly 2 dimensions"),
        case(Api(|_| plan(vec![2, 0, 3], "sparse(sparsity=0.5)")), Invalid("shape"), "[2, 0, 3]"),
        case(Api(|_| plan(vec![0, 5], "dirac")), Invalid("shape"), "3, 4 or 5 dimensions"),
        case(Api(|_| plan(vec![3, 0, 3], "dirac(groups=2)")), Invalid("groups"), "[3, 0, 3]"),
        case(Api(|_| plan(vec![4, 3, 0], "jax-delta-orthogonal")), Invalid("shape"), "in 3 > out 0"),
        case(Api(|_| plan(vec![0], "xavier-uniform")), FansUndefined, "[0]"),
        case(Api(|_| plan(vec![0], "jax-lecun-normal")), FansUndefined, "[0]"),

        // Library API: tensors.
        case(Api(|_| plan(vec![5], "he")), FansUndefined, "[5]"),
        case(Api(|_| plan(vec![], "lecun-uniform")), FansUndefined, "[]"),
        case(Api(|_| plan(vec![1 << 32, 1 << 32], "normal")), TooLarge("element count"), "4294967296"),
        case(Api(|_| plan(vec![1; 65], "normal")), Invalid("shape"), "65 dimensions"),
        case(Api(|_| TensorSpec::new("", vec![2], Scheme::default()).plan(0).map(drop)),
             Invalid("tensor name"), "\"\""),
        case(Api(|_| TensorSpec::new("a\nb", vec![2], Scheme::default()).plan(0).map(drop)),
             Invalid("tensor name"), "a\\nb"),

        // Library API: fills.
        // 2^62 f32 elements are 2^64 bytes, past any address space.
        case(Api(|_| {
            let plan = TensorSpec::new("w", vec![1 << 31, 1 << 31], Scheme::default()).plan(0)?;
            Engine::Cpu.fill(&plan).map(drop)
        }), OutOfMemory, "4611686018427387904"),
        case(Api(|_| weight_init::cpu::fill_range(&small_plan(), 10, &mut [0.0; 7])),
             Invalid("element range"), "[10, 10 + 7)"),
        case(Api(|_| weight_init::cpu::fill_range(&small_plan(), u64::MAX, &mut [0.0; 2])),
             Invalid("element range"), "18446744073709551615"),
        case(Api(|_| weight_init::cpu::fill_range_as(&small_plan(), Dtype::F32, 0, &mut [0; 3])),
             Invalid("output length"), "3"),
        case(Api(|_| weight_init::cpu::words(1, 0, 0, &mut [0; 5])), Invalid("word count"), "5 is not a whole number"),
        case(Api(|_| Engine::Cpu.fill_runs(&small_plan(), Dtype::F16, &[(0, 4)], &mut [0; 6])),
             Invalid("output length"), "6 bytes"),
        case(Api(|_| Engine::Cpu.fill_runs(&small_plan(), Dtype::F32, &[(14, 4)], &mut [0; 16])),
             Invalid("element range"), "[14, 14 + 4)"),

        // Library API: shards and slices.
        case(Api(|_| shard_range(10, 3, 3).map(drop)), Invalid("shard"), "rank 3 of world size 3"),
        case(Api(|_| shard_range(10, 0, 0).map(drop)), Invalid("shard"), "world size 0"),
        case(Api(|_| shard_region(&[4, 4], 5, 2, 2).map(drop)), Invalid("shard"), "rank 2"),
        case(Api(|_| Region { offsets: vec![3, 0], extents: vec![2, 4] }.check(&[4, 4])),
             Invalid("slice"), "[3, 3 + 2) along dimension 0"),
        case(Api(|_| Region { offsets: vec![0], extents: vec![4] }.check(&[4, 4])),
             Invalid("slice"), "1 offsets"),

        // Library API: fills into a caller's GPU buffer (64 bytes, STORAGE unless named).
        case(Gpu(|gpu| record(gpu, STORAGE, Dtype::F32, 0, 4, 2)),
             Invalid("buffer offset"), "2 is not a multiple of the f32 element size 4"),
        case(Gpu(|gpu| record(gpu, STORAGE, Dtype::BF16, 0, 4, 5)), Invalid("buffer offset"), "5"),
        case(Gpu(|gpu| record(gpu, STORAGE, Dtype::F32, 0, 16, 4)),
             Invalid("buffer range"), "64-byte buffer"),
        case(Gpu(|gpu| record(gpu, wgpu::BufferUsages::COPY_DST, Dtype::F32, 0, 4, 0)),
             Invalid("buffer"), "STORAGE"),
        case(Gpu(|gpu| record(gpu, STORAGE, Dtype::F32, 15, 2, 0)),
             Invalid("element range"), "[15, 15 + 2)"),
    ]
}

/// The variant (and `what`) an error has, in the terms of [`Want`]; `None` for variants no
/// case expects.
fn kind(e: &Error) -> Option<Want> {
    Some(match e {
        Error::InvalidArgument { what, .. } => Want::Invalid(what),
        Error::FansUndefined { .. } => Want::FansUndefined,
        Error::TooLarge { what, .. } => Want::TooLarge(what),
        Error::OutOfMemory { .. } => Want::OutOfMemory,
        Error::Io { .. } => Want::Io,
        _ => return None,
    })
}

/// Runs one case; `Err` describes how it failed.
fn check(case: &Case, dir: &Path, gpu: Option<&GpuContext>) -> Result<(), String> {
    let result = match &case.input {
        Cli(args) => return check_cli(args, case, dir),
        Json(text) => Model::from_spec_str(text, SpecFormat::Json).map(drop),
        Toml(text) => Model::from_spec_str(text, SpecFormat::Toml).map(drop),
        Config(text) => Model::from_hf_config_str(text).map(drop),
        Api(call) => call(dir),
        Gpu(call) => match gpu {
            Some(gpu) => call(gpu),
            None => return Ok(()),
        },
    };
    let err = match result {
        Ok(()) => return Err("succeeded".into()),
        Err(e) => e,
    };
    let message = err.to_string();
    if kind(&err) != Some(case.want) {
        return Err(format!("gave {err:?}"));
    }
    if !message.contains(case.needle) || message.lines().count() != 1 {
        return Err(format!(
            "message {message:?} does not name {:?} on one line",
            case.needle
        ));
    }
    Ok(())
}

fn check_cli(args: &[&str], case: &Case, dir: &Path) -> Result<(), String> {
    let args: Vec<String> = args
        .iter()
        .map(|a| a.replace("{dir}", dir.to_str().unwrap()))
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(&args)
        .current_dir(dir)
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    let err = String::from_utf8_lossy(&out.stderr);
    let Want::Exit(code) = case.want else {
        unreachable!("command-line cases want an exit status");
    };
    if out.status.code() != Some(code) {
        return Err(format!("exited with {:?}, not {code}: {err}", out.status));
    }
    if err.trim_end().lines().count() != 1 || !err.contains(case.needle) {
        return Err(format!(
            "stderr {err:?} does not name {:?} on one line",
            case.needle
        ));
    }
    Ok(())
}

#[test]
fn every_bad_input_gives_its_error_naming_the_offending_value() {
    let gpu = common::gpu("every_bad_input_gives_its_error (GPU entries)");
    let cases = cases();
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("exists.npy"), b"keep me").unwrap();
        let outcome = catch_unwind(AssertUnwindSafe(|| check(case, dir.path(), gpu.as_deref())))
            .unwrap_or_else(|_| Err("panicked".into()));
        if let Err(why) = outcome {
            failures.push(format!(
                "case {i} ({:?}, {:?}): {why}",
                case.want, case.needle
            ));
        }
        // Nothing was written, and an existing file is untouched.
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| {
                !n.starts_with("latin1") && !n.starts_with("model.") && !n.starts_with("huge")
            })
            .collect();
        left.sort();
        if left != ["exists.npy"] {
            failures.push(format!("case {i}: files left behind: {left:?}"));
        }
        assert_eq!(
            std::fs::read(dir.path().join("exists.npy")).unwrap(),
            b"keep me"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
