//! The `weight-init` binary as a user runs it: the notebook example, files and raw bits
//! (bad input is in `bad_input.rs`).

mod common;

use std::path::Path;
use std::process::{Command, Output};

use weight_init::spec::TensorSpec;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("utf-8 stderr")
}

const NOTEBOOK: [&str; 9] = [
    "init", "--layers", "2,4,3,1", "--scheme", "he", "--seed", "7", "--device", "cpu",
];

#[test]
fn notebook_example_prints_three_matrices_with_their_shapes() {
    let out = run(&NOTEBOOK);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for (name, rows, shape) in [
        ("W1", 4, "(4, 2)"),
        ("W2", 3, "(3, 4)"),
        ("W3", 1, "(1, 3)"),
    ] {
        let start = text.find(&format!("{name} = [[")).expect("matrix printed");
        let block = &text[start..];
        let shape_line = format!("Shape of {name} is {shape},\n\n");
        let end = block
            .find(&shape_line)
            .expect("shape line after the matrix");
        assert_eq!(block[..end].lines().count(), rows, "{name} rows");
    }
    // The printed numbers are the library's values, rounded to eight decimals.
    let w1 = TensorSpec::new("W1", vec![4, 2], "he".parse().unwrap())
        .plan(7)
        .unwrap();
    let mut values = vec![0.0f32; 8];
    weight_init::cpu::fill_range(&w1, 0, &mut values).unwrap();
    let first = format!("{:.8}", f64::from(values[0]));
    assert!(
        text.starts_with(&format!("W1 = [[{first}"))
            || text.starts_with(&format!("W1 = [[ {first}"))
    );
}

#[test]
fn notebook_example_is_identical_on_the_gpu_path() {
    if common::gpu("notebook_example_is_identical_on_the_gpu_path").is_none() {
        return;
    }
    let cpu = run(&NOTEBOOK);
    let mut args = NOTEBOOK;
    args[8] = "gpu";
    let gpu = run(&args);
    assert!(gpu.status.success(), "{}", stderr(&gpu));
    assert_eq!(stdout(&cpu), stdout(&gpu));
}

#[test]
fn default_run_prints_the_notebook_network_and_the_drawn_seed() {
    let out = run(&["init", "--device", "cpu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Shape of W1 is (4, 2),") && text.contains("Shape of W3 is (1, 3),"));
    let err = stderr(&out);
    let seed: u64 = err
        .split("--seed ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("drawn seed printed")
        .parse()
        .expect("numeric seed");
    // Repeating with the printed seed reproduces the output.
    let again = run(&["init", "--device", "cpu", "--seed", &seed.to_string()]);
    assert_eq!(stdout(&again), text);
}

#[test]
fn bits_prints_random123_third_known_answer() {
    let args = [
        "bits",
        "--seed",
        "0x299f31d0a4093822",
        "--stream",
        "0x0370734413198a2e",
        "--block",
        "0x85a308d3243f6a88",
        "--count",
        "3",
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(
        text.lines().next(),
        Some("d16cfe09 94fdcceb 5001e420 24126ea1")
    );
    assert_eq!(text.lines().count(), 3);
    if common::gpu("bits_prints_random123_third_known_answer (gpu)").is_some() {
        let gpu = run(&[&args[..], &["--device", "gpu"]].concat());
        assert_eq!(stdout(&gpu), text);
    }
}

#[test]
fn a_dangling_link_at_the_output_path_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("w.npy");
    std::os::unix::fs::symlink(dir.path().join("missing").join("t.npy"), &link).unwrap();
    let args = [
        "init",
        "--shape",
        "3",
        "--seed",
        "1",
        "--out",
        link.to_str().unwrap(),
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    let forced = run(&[&args[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(link.symlink_metadata().unwrap().file_type().is_file());
}

#[test]
fn bits_reads_the_last_block_before_the_counter_wraps() {
    let last = run(&["bits", "--seed", "3", "--block", "0xffffffffffffffff"]);
    assert!(last.status.success(), "{}", stderr(&last));
    let two = run(&[
        "bits",
        "--seed",
        "3",
        "--block",
        "0xfffffffffffffffe",
        "--count",
        "2",
    ]);
    assert!(two.status.success(), "{}", stderr(&two));
    let text = stdout(&two);
    assert_eq!(text.lines().count(), 2);
    assert_eq!(
        stdout(&last).lines().collect::<Vec<_>>(),
        [text.lines().nth(1).unwrap()]
    );
}

#[test]
fn bits_raw_writes_little_endian_words() {
    let out = run(&["bits", "--seed", "5", "--count", "2", "--raw"]);
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), 32);
    let mut words = [0u32; 8];
    weight_init::cpu::words(5, 0, 0, &mut words).unwrap();
    let expected: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(out.stdout, expected);
}

fn read_npy(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().to_vec();
    (shape, npy.into_vec::<f32>().unwrap())
}

#[test]
fn npy_output_has_the_he_std_and_matches_between_devices() {
    let dir = tempfile::tempdir().unwrap();
    let cpu_path = dir.path().join("w.npy");
    let args = [
        "init",
        "--shape",
        "1024,1024",
        "--scheme",
        "he",
        "--seed",
        "1",
        "--out",
    ];
    let out = run(&[&args[..], &[cpu_path.to_str().unwrap(), "--device", "cpu"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let (shape, values) = read_npy(&cpu_path);
    assert_eq!(shape, [1024, 1024]);
    assert!(values.iter().all(|v| v.is_finite()));
    let n = values.len() as f64;
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let std = (values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let target = (2.0f64 / 1024.0).sqrt();
    assert!((std / target - 1.0).abs() < 0.01, "std {std} vs {target}");

    if let Some(gpu) = common::gpu("npy_output_matches_between_devices") {
        let software = gpu.is_software();
        drop(gpu);
        let gpu_path = dir.path().join("w-gpu.npy");
        let out = run(&[&args[..], &[gpu_path.to_str().unwrap(), "--device", "gpu"]].concat());
        assert!(out.status.success(), "{}", stderr(&out));
        let (_, on_gpu) = read_npy(&gpu_path);
        if software {
            assert!(values == on_gpu, "lavapipe output differs from the CPU's");
        } else {
            let worst = values
                .iter()
                .zip(&on_gpu)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst <= target as f32 * 1e-5, "largest difference {worst}");
        }
    }
}

#[test]
fn safetensors_output_holds_every_tensor_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.safetensors");
    let args = [
        "init",
        "--layers",
        "5,7,3",
        "--scheme",
        "xavier-uniform",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--out",
        path.to_str().unwrap(),
        "--stats",
    ];
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("W2: shape (3, 7), 21 elements, expected mean"));
    let bytes = std::fs::read(&path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    for (name, shape) in [("W1", vec![7u64, 5]), ("W2", vec![3, 7])] {
        let view = file.tensor(name).unwrap();
        assert_eq!(view.dtype(), safetensors::Dtype::F32);
        assert_eq!(
            view.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(),
            shape
        );
        let plan = TensorSpec::new(name, shape, "xavier-uniform".parse().unwrap())
            .plan(3)
            .unwrap();
        let mut expected = vec![0.0f32; plan.len_elems as usize];
        weight_init::cpu::fill_range(&plan, 0, &mut expected).unwrap();
        let got: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert_eq!(got, expected, "{name}");
    }
    // Without --force the file is not replaced; with it, it is.
    assert!(!run(&args).status.success());
    let forced = run(&[&args[..], &["--force"]].concat());
    assert!(forced.status.success(), "{}", stderr(&forced));
}
