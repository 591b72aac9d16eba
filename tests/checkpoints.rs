//! Huge-model output: shard-exact slices, sharded checkpoints with an index, presets, and
//! files that survive a killed process.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use weight_init::dtype::Dtype;
use weight_init::engine::Engine;
use weight_init::gpu::{AdapterPreference, GpuContext};
use weight_init::slice::{Region, shard_region};
use weight_init::spec::{FillPlan, TensorSpec};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the binary runs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The region's bytes cut out of the whole tensor's bytes, element by element.
fn cut(full: &[u8], shape: &[u64], region: &Region, size: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (first, len) in region.runs(shape) {
        out.extend_from_slice(&full[first as usize * size..(first + len) as usize * size]);
    }
    out
}

fn region_bytes(
    engine: &Engine,
    plan: &FillPlan,
    shape: &[u64],
    region: &Region,
    dtype: Dtype,
) -> Vec<u8> {
    let runs: Vec<(u64, u64)> = region.runs(shape).collect();
    let mut out = vec![0u8; region.len_elems().unwrap() as usize * dtype.size_bytes()];
    engine.fill_runs(plan, dtype, &runs, &mut out).unwrap();
    out
}

/// Row shards, column shards, 2x2 grids and ragged splits, each equal to its slice of the full
/// tensor, bit for bit, for every dtype.
fn check_layouts(engine: &Engine, what: &str) {
    let shape = vec![37u64, 53, 3];
    for (scheme, dtype) in [
        ("he", Dtype::F32),
        ("xavier-uniform", Dtype::BF16),
        ("normal", Dtype::F16),
    ] {
        let spec = TensorSpec::new("layer.3.weight", shape.clone(), scheme.parse().unwrap());
        let plan = spec.plan(99).unwrap();
        let size = dtype.size_bytes();
        let full = region_bytes(engine, &plan, &shape, &Region::full(&shape), dtype);
        let mut regions = Vec::new();
        for world in [1, 2, 3, 5, 8] {
            for dim in 0..3 {
                for rank in 0..world {
                    regions.push(shard_region(&shape, dim, rank, world).unwrap());
                }
            }
        }
        // A 2x2 grid over the first two dimensions, and ragged hand-made boxes.
        for (r0, r1) in [(0, 19), (19, 37)] {
            for (c0, c1) in [(0, 26), (26, 53)] {
                regions.push(Region {
                    offsets: vec![r0, c0, 0],
                    extents: vec![r1 - r0, c1 - c0, 3],
                });
            }
        }
        regions.push(Region {
            offsets: vec![5, 7, 1],
            extents: vec![1, 45, 2],
        });
        regions.push(Region {
            offsets: vec![36, 52, 2],
            extents: vec![1, 1, 1],
        });
        for region in &regions {
            let got = region_bytes(engine, &plan, &shape, region, dtype);
            assert!(
                got == cut(&full, &shape, region, size),
                "{what} {scheme} {dtype}: {region:?}"
            );
        }
    }
}

#[test]
fn every_shard_layout_equals_its_slice_of_the_full_tensor_on_the_cpu() {
    check_layouts(&Engine::Cpu, "CPU");
}

#[test]
fn every_shard_layout_equals_its_slice_of_the_full_tensor_on_the_gpu() {
    if common::gpu("every_shard_layout_equals_its_slice (gpu)").is_none() {
        return;
    }
    // A context of its own with a small dispatch size, so that column shards span several
    // dispatches.
    let mut gpu = GpuContext::new(AdapterPreference::Any).expect("an adapter was found above");
    gpu.set_max_chunk_elems(Some(1000));
    let engine = Engine::Gpu(Box::new(gpu));
    check_layouts(&engine, "GPU");
}

fn read_tensors(path: &Path) -> Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut out: Vec<_> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.shape().to_vec(),
                view.dtype(),
                view.data().to_vec(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn sharded_checkpoint_with_index_holds_the_same_tensors_as_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("one.safetensors");
    let sharded = dir.path().join("ckpt");
    let base = [
        "init",
        "--preset",
        "llama-tiny",
        "--dtype",
        "bf16",
        "--seed",
        "4",
        "--device",
        "cpu",
    ];
    ok(&cli(
        &[&base[..], &["--out", single.to_str().unwrap()]].concat()
    ));
    ok(&cli(&[
        &base[..],
        &[
            "--out",
            sharded.to_str().unwrap(),
            "--max-shard-size",
            "100kB",
        ],
    ]
    .concat()));

    let index: serde_json::Value = serde_json::from_slice(
        &std::fs::read(sharded.join("model.safetensors.index.json")).unwrap(),
    )
    .unwrap();
    let weight_map = index["weight_map"].as_object().unwrap();
    let files: std::collections::BTreeSet<&str> =
        weight_map.values().map(|v| v.as_str().unwrap()).collect();
    assert!(files.len() > 2, "expected several shards, got {files:?}");
    let n = files.len();
    for (k, file) in files.iter().enumerate() {
        assert_eq!(*file, format!("model-{:05}-of-{n:05}.safetensors", k + 1));
    }
    let mut from_shards: Vec<_> = files
        .iter()
        .flat_map(|f| read_tensors(&sharded.join(f)))
        .collect();
    from_shards.sort_by(|a, b| a.0.cmp(&b.0));
    let whole = read_tensors(&single);
    assert_eq!(from_shards.len(), weight_map.len());
    assert!(from_shards == whole, "shards differ from the single file");
    let total: usize = whole.iter().map(|t| t.3.len()).sum();
    assert_eq!(index["metadata"]["total_size"].as_u64(), Some(total as u64));
    // No temporary file is left behind.
    for entry in std::fs::read_dir(&sharded).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.ends_with(".partial"), "{name}");
    }
}

#[test]
fn ranks_written_with_shard_reassemble_into_the_full_tensors() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full.safetensors");
    let parts = dir.path().join("parts.safetensors");
    let base = [
        "init",
        "--preset",
        "llama-tiny",
        "--seed",
        "8",
        "--device",
        "cpu",
    ];
    ok(&cli(
        &[&base[..], &["--out", full.to_str().unwrap()]].concat()
    ));
    let world = 3;
    for rank in 0..world {
        let shard = format!("{rank}/{world}");
        ok(&cli(&[
            &base[..],
            &[
                "--out",
                parts.to_str().unwrap(),
                "--shard",
                &shard,
                "--shard-dim",
                "1",
            ],
        ]
        .concat()));
    }
    let ranks: Vec<_> = (0..world)
        .map(|r| {
            read_tensors(
                &dir.path()
                    .join(format!("parts-rank{r:05}-of-{world:05}.safetensors")),
            )
        })
        .collect();
    for (i, (name, shape, _, data)) in read_tensors(&full).into_iter().enumerate() {
        if shape.len() < 2 {
            // Vectors have no dimension 1: every rank holds them whole.
            assert!(ranks.iter().all(|r| r[i].3 == data), "{name}");
            continue;
        }
        // Reassemble along dimension 1, row by row.
        let mut rebuilt = Vec::new();
        for row in 0..shape[0] {
            for r in &ranks {
                let cols = r[i].1[1] * 4;
                rebuilt.extend_from_slice(&r[i].3[row * cols..(row + 1) * cols]);
            }
        }
        assert!(
            rebuilt == data,
            "{name}: ranks do not reassemble into the full tensor"
        );
    }
}

#[test]
fn gpt2_preset_has_the_state_dict_names_and_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpt2.safetensors");
    ok(&cli(&[
        "init",
        "--preset",
        "gpt2",
        "--seed",
        "0",
        "--dtype",
        "bf16",
        "--device",
        "cpu",
        "--out",
        path.to_str().unwrap(),
    ]));
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(file.len(), 148);
    let shape = |n: &str| file.tensor(n).unwrap().shape().to_vec();
    assert_eq!(shape("transformer.wte.weight"), [50257, 768]);
    assert_eq!(shape("transformer.wpe.weight"), [1024, 768]);
    assert_eq!(shape("transformer.h.11.attn.c_attn.weight"), [768, 2304]);
    assert_eq!(shape("transformer.h.0.mlp.c_proj.weight"), [3072, 768]);
    assert_eq!(shape("transformer.ln_f.bias"), [768]);
    let ln = Dtype::BF16.decode(file.tensor("transformer.h.3.ln_1.weight").unwrap().data());
    assert!(ln.iter().all(|&v| v == 1.0));
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(header.metadata().as_ref().unwrap()["format"], "pt");
}

/// What an existing output file holds before a run that must leave it alone.
const OLD_BYTES: &[u8] = b"the previous checkpoint";

/// The two outputs a failed run must leave alone, each with its arguments
/// `init SOURCE.. --out PATH [--force]`: a fresh path, where no file may appear, and an
/// existing file, replaced only with `--force`, which must keep [`OLD_BYTES`].
fn fresh_and_existing(dir: &Path, source: &[&str]) -> [(std::path::PathBuf, Vec<String>); 2] {
    let existing = dir.join("existing.safetensors");
    std::fs::write(&existing, OLD_BYTES).unwrap();
    [(dir.join("fresh.safetensors"), false), (existing, true)].map(|(path, force)| {
        let mut args: Vec<String> = std::iter::once(&"init")
            .chain(source)
            .map(|s| s.to_string())
            .collect();
        args.extend(["--out".to_string(), path.display().to_string()]);
        if force {
            args.push("--force".into());
        }
        (path, args)
    })
}

/// Checks that a failed run left `path` (from [`fresh_and_existing`]) alone.
fn assert_left_alone(path: &Path) {
    if path.ends_with("existing.safetensors") {
        assert_eq!(std::fs::read(path).unwrap(), OLD_BYTES);
    } else {
        assert!(!path.exists(), "a file appeared under the final name");
    }
}

#[test]
fn a_killed_run_leaves_no_file_under_the_final_name_and_the_old_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let source = ["--preset", "gpt2", "--seed", "1", "--device", "cpu"];
    for (path, args) in fresh_and_existing(dir.path(), &source) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_weight-init"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Wait until the temporary file exists and holds data, then kill -9.
        let start = Instant::now();
        loop {
            let partial = std::fs::read_dir(dir.path())
                .unwrap()
                .filter_map(|e| e.ok())
                .find(|e| {
                    e.file_name().to_string_lossy().ends_with(".partial")
                        && e.metadata().is_ok_and(|m| m.len() > 1 << 20)
                });
            if partial.is_some() {
                break;
            }
            assert!(
                child.try_wait().unwrap().is_none(),
                "the run finished before it could be killed"
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no partial file appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_left_alone(&path);
    }
}

#[test]
fn example_spec_files_in_json_and_toml_describe_the_same_model() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let json = weight_init::model::Model::from_spec_file(&root.join("mlp.json")).unwrap();
    let toml = weight_init::model::Model::from_spec_file(&root.join("mlp.toml")).unwrap();
    assert_eq!(json, toml);
    assert_eq!(json.seed, Some(2024));
    let config =
        weight_init::model::Model::from_hf_config_file(&root.join("gpt2-config.json")).unwrap();
    assert_eq!(config, weight_init::model::Model::preset("gpt2").unwrap());
}

#[test]
fn shard_auto_reads_torchrun_and_slurm_variables() {
    let dir = tempfile::tempdir().unwrap();
    let run = |vars: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_weight-init"));
        cmd.args([
            "init",
            "--shape",
            "8,4",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--shard",
            "auto",
            "--out",
            dir.path().join("w.safetensors").to_str().unwrap(),
        ]);
        for var in ["RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_NTASKS"] {
            cmd.env_remove(var);
        }
        cmd.envs(vars.iter().copied()).output().unwrap()
    };
    ok(&run(&[("RANK", "1"), ("WORLD_SIZE", "2")]));
    assert!(dir.path().join("w-rank00001-of-00002.safetensors").exists());
    ok(&run(&[("SLURM_PROCID", "2"), ("SLURM_NTASKS", "3")]));
    assert!(dir.path().join("w-rank00002-of-00003.safetensors").exists());
    let missing = run(&[]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("WORLD_SIZE"));
}

#[test]
fn sigterm_and_sigint_stop_the_run_and_remove_the_temporary_file() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weight-init"))
            .args([
                "init", "--preset", "gpt2", "--seed", "1", "--device", "cpu", "--out",
            ])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let start = Instant::now();
        while !std::fs::read_dir(dir.path())
            .unwrap()
            .any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".partial")))
        {
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before the signal"
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no partial file appeared"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        let sent = Command::new("kill")
            .arg(signal)
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(130),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{signal}: files left behind: {left:?}");
    }
}

#[test]
fn a_file_size_limit_is_reported_as_such_and_leaves_nothing_behind() {
    // `ulimit -f` limits every file the process writes, as a full disk would: writes past it
    // fail (with EFBIG, the CLI ignoring SIGXFSZ), as they would with ENOSPC. 16 MiB of f32
    // against a limit of 4096 blocks: 2 MiB, or 4 MiB where a block is 1024 bytes.
    let dir = tempfile::tempdir().unwrap();
    let source = ["--shape", "2048,2048", "--seed", "1", "--device", "cpu"];
    for (path, args) in fresh_and_existing(dir.path(), &source) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(r#"ulimit -f 4096 && exec "$0" "$@""#)
            .arg(env!("CARGO_BIN_EXE_weight-init"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("cannot write")
                && err.contains(path.to_str().unwrap())
                && err.contains("the file reached the largest size allowed"),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_left_alone(&path);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n.to_string_lossy().contains(".weight-init-"))
            .collect();
        assert!(left.is_empty(), "temporary files left behind: {left:?}");
    }
}

#[test]
fn a_directory_holding_another_layout_is_refused_or_replaced_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ckpt");
    let out_arg = out.to_str().unwrap();
    ok(&cli(&[
        "init", "--shape", "4,4", "--seed", "1", "--out", out_arg,
    ]));
    assert!(out.join("model.safetensors").exists());
    // Sharding into the same directory would leave model.safetensors beside the shards,
    // and loaders prefer it: refused without --force, with the existing file named.
    let sharded = [
        "init",
        "--shape",
        "4,4",
        "--shape",
        "4,4",
        "--seed",
        "2",
        "--out",
        out_arg,
        "--max-shard-size",
        "70",
    ];
    let refused = cli(&sharded);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("model.safetensors"));
    assert!(!out.join("model.safetensors.index.json").exists());
    // With --force the old layout goes once the new one is complete.
    let mut forced = sharded.to_vec();
    forced.push("--force");
    ok(&cli(&forced));
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json"
        ]
    );
    // And back to one file: the shards and the index go.
    ok(&cli(&[
        "init", "--shape", "4,4", "--seed", "1", "--out", out_arg, "--force",
    ]));
    let names: Vec<_> = std::fs::read_dir(&out).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn the_same_run_writes_the_same_bytes() {
    // The header's metadata map is written in key order, so files are byte-reproducible.
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<u8>> = (0..4)
        .map(|k| {
            let path = dir.path().join(format!("r{k}.safetensors"));
            ok(&cli(&[
                "init",
                "--shape",
                "3,5",
                "--shape",
                "2",
                "--seed",
                "3",
                "--out",
                path.to_str().unwrap(),
            ]));
            std::fs::read(path).unwrap()
        })
        .collect();
    assert!(files.windows(2).all(|w| w[0] == w[1]));
}
