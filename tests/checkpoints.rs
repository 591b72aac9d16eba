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
    // A half-set launcher is named as such; a bad value names its variable.
    let half = run(&[("RANK", "1"), ("SLURM_PROCID", "0"), ("SLURM_NTASKS", "2")]);
    assert_eq!(half.status.code(), Some(2));
    let err = String::from_utf8_lossy(&half.stderr);
    assert!(
        err.contains("found RANK (torchrun) but not WORLD_SIZE"),
        "{err}"
    );
    let bad = run(&[("RANK", "x"), ("WORLD_SIZE", "2")]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("RANK = \"x\""), "{err}");
}

/// Names in `dir`, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A child process killed (SIGKILL works on a stopped process too) and reaped when dropped,
/// so a failed assertion leaves no process behind.
#[cfg(target_os = "linux")]
struct Reaped(std::process::Child);

#[cfg(target_os = "linux")]
impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` (`"STOP"`, `"CONT"`, ...) to `child` with kill(1).
fn send_signal(child: &std::process::Child, signal: &str) {
    let sent = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{signal} failed");
}

#[test]
fn sigterm_sigint_and_sighup_stop_the_run_remove_the_temporary_file_and_keep_the_old_file() {
    // The CLI catches all three (ctrlc's `termination` feature): each stops the writing at the
    // next batch, removes the temporary file and exits 130. The existing file is replaced
    // only by the rename at the very end, so it must keep its bytes.
    let source = ["--preset", "gpt2", "--seed", "1", "--device", "cpu"];
    for signal in ["TERM", "INT", "HUP"] {
        let dir = tempfile::tempdir().unwrap();
        for (path, args) in fresh_and_existing(dir.path(), &source) {
            let mut child = Command::new(env!("CARGO_BIN_EXE_weight-init"))
                .args(&args)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let start = Instant::now();
            while !names_in(dir.path()).iter().any(|n| n.ends_with(".partial")) {
                assert!(
                    child.try_wait().unwrap().is_none(),
                    "SIG{signal}, {args:?}: finished before the signal"
                );
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "SIG{signal}, {args:?}: no partial file appeared"
                );
                std::thread::sleep(Duration::from_millis(5));
            }
            send_signal(&child, signal);
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(130), "SIG{signal}, {args:?}: {err}");
            assert!(err.contains("interrupted"), "SIG{signal}, {args:?}: {err}");
            assert_left_alone(&path);
            // Nothing else: [`fresh_and_existing`] made the existing file, no run made more.
            assert_eq!(
                names_in(dir.path()),
                ["existing.safetensors"],
                "SIG{signal}, {args:?}: files left behind"
            );
        }
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
    // A directory output that the run created is gone again after the failure.
    let new_dir = dir.path().join("new").join("checkpoint");
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -f 4096 && exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_weight-init"))
        .args([
            "init",
            "--shape",
            "2048,2048",
            "--seed",
            "1",
            "--device",
            "cpu",
            "--out",
        ])
        .arg(&new_dir)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !new_dir.exists(),
        "the failed run left {}",
        new_dir.display()
    );
}

/// A tmpfs of a given size mounted on a fresh directory, unmounted when dropped (also when
/// the test panics): a real file system that fills up, as a full disk does.
#[cfg(target_os = "linux")]
struct Tmpfs {
    dir: tempfile::TempDir,
}

#[cfg(target_os = "linux")]
impl Tmpfs {
    /// Mounts a tmpfs of `size_bytes`. Where this process may not mount (EPERM: not root, or a
    /// container without CAP_SYS_ADMIN), prints a SKIP line naming `test` and returns `None`;
    /// any other failure fails the test.
    fn mount(size_bytes: u64, test: &str) -> Option<Self> {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;

        let dir = tempfile::tempdir().unwrap();
        let target = CString::new(dir.path().as_os_str().as_bytes()).unwrap();
        let options = CString::new(format!("size={size_bytes},mode=0700")).unwrap();
        // SAFETY: every pointer is a NUL-terminated string that outlives the call.
        let rc = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if rc == 0 {
            return Some(Self { dir });
        }
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EPERM) {
            eprintln!("SKIP {test}: this process may not mount a tmpfs ({error})");
            return None;
        }
        panic!(
            "mounting a tmpfs on {} failed: {error}",
            dir.path().display()
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

#[cfg(target_os = "linux")]
impl Drop for Tmpfs {
    fn drop(&mut self) {
        use std::os::unix::ffi::OsStrExt;

        let target = std::ffi::CString::new(self.dir.path().as_os_str().as_bytes()).unwrap();
        // SAFETY: `target` is a NUL-terminated string that outlives the calls. A busy mount
        // (a child that a failed assertion left running) is detached instead, so it goes as
        // soon as the child does.
        unsafe {
            if libc::umount2(target.as_ptr(), 0) != 0 {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Waits until `child` is in the stopped state: a write system call in progress when SIGSTOP
/// arrived has then returned, so the file's size says what was written.
#[cfg(target_os = "linux")]
fn wait_until_stopped(child: &std::process::Child) {
    let stat = format!("/proc/{}/stat", child.id());
    let start = Instant::now();
    // The state is the field after the parenthesized command name.
    while !std::fs::read_to_string(&stat)
        .unwrap()
        .rsplit_once(") ")
        .is_some_and(|(_, rest)| rest.starts_with('T'))
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the run did not stop"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
#[cfg(target_os = "linux")]
fn an_output_larger_than_the_file_system_is_refused_before_any_work() {
    // 4 MiB of f32 for a 2 MiB tmpfs: the free-space check answers before a byte is written.
    let Some(fs) = Tmpfs::mount(2 << 20, "an_output_larger_than_the_file_system") else {
        return;
    };
    let source = ["--shape", "1024,1024", "--seed", "1", "--device", "cpu"];
    for (path, args) in fresh_and_existing(fs.path(), &source) {
        let out = cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        // The data, 4 MiB, plus the file's header (a few hundred bytes of JSON).
        let data = 4 * 1024 * 1024;
        let needs: u64 = err
            .split("needs ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{args:?}: no byte count in {err}"));
        assert!(
            (data + 8..data + 4096).contains(&needs),
            "{args:?}: needs {needs}: {err}"
        );
        assert!(
            err.contains("output size")
                && err.contains(fs.path().to_str().unwrap())
                && err.contains("free"),
            "{args:?}: {err}"
        );
        assert_left_alone(&path);
        assert_eq!(names_in(fs.path()), ["existing.safetensors"], "{args:?}");
    }
}

#[test]
#[cfg(target_os = "linux")]
fn a_disk_that_fills_up_during_the_write_is_reported_and_leaves_nothing_behind() {
    // A real ENOSPC: a 64 MiB tmpfs takes the 48 MiB output when the run checks the free
    // space; once the temporary file exists the run is stopped (SIGSTOP), the test fills the
    // file system, and the run goes on (SIGCONT) into a full disk. Data is written in 16 MiB
    // batches after the temporary file is created, so the run still has data to write unless
    // it finished before it could be stopped: then this attempt does not count, and after
    // three such attempts the test fails.
    let Some(fs) = Tmpfs::mount(64 << 20, "a_disk_that_fills_up_during_the_write") else {
        return;
    };
    let source = ["--shape", "3072,4096", "--seed", "1", "--device", "cpu"];
    let total_bytes = 3072 * 4096 * 4;
    let filler = fs.path().join("filler");
    for (path, args) in fresh_and_existing(fs.path(), &source) {
        let mut attempts = 0;
        let out = loop {
            attempts += 1;
            assert!(
                attempts <= 3,
                "{args:?}: every run finished before it was stopped"
            );
            let mut child = Reaped(
                Command::new(env!("CARGO_BIN_EXE_weight-init"))
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap(),
            );
            let start = Instant::now();
            let partial = loop {
                let partial = names_in(fs.path())
                    .into_iter()
                    .find(|n| n.ends_with(".partial"));
                if let Some(partial) = partial {
                    break Some(partial);
                }
                if child.0.try_wait().unwrap().is_some() {
                    break None;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "{args:?}: no partial file appeared"
                );
                std::thread::yield_now();
            };
            let Some(partial) = partial else {
                eprintln!("attempt {attempts}: the run ended before its file was seen");
                continue;
            };
            send_signal(&child.0, "STOP");
            wait_until_stopped(&child.0);
            let written = std::fs::metadata(fs.path().join(&partial)).map_or(0, |m| m.len());
            if written >= total_bytes {
                eprintln!("attempt {attempts}: all {written} bytes were written before the stop");
                continue;
            }

            // Fill the file system to the last byte: writes until ENOSPC.
            let mut file = std::fs::File::create(&filler).unwrap();
            let zeros = vec![0u8; 1 << 20];
            let full = loop {
                if let Err(e) = std::io::Write::write_all(&mut file, &zeros) {
                    break e;
                }
            };
            assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
            drop(file);
            send_signal(&child.0, "CONT");
            let out = child.0.stderr.take().map(|mut stderr| {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
                text
            });
            let status = child.0.wait().unwrap();
            break (status, out.unwrap_or_default());
        };

        let (status, err) = out;
        assert_eq!(status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("error: cannot write {}", path.display()))
                && err.contains("the disk is full")
                && err.to_ascii_lowercase().contains("no space left on device"),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert_left_alone(&path);
        assert_eq!(
            names_in(fs.path()),
            ["existing.safetensors", "filler"],
            "{args:?}: files left behind"
        );
        std::fs::remove_file(&filler).unwrap();
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
