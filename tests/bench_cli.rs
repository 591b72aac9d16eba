//! `weight-init bench` as a user runs it, on tiny sizes: the table, the JSON rows, the plots,
//! and bad report paths caught before anything is measured.

mod common;

use std::fs;
use std::process::{Command, Output};

use serde_json::Value;

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weight-init"))
        .arg("bench")
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

/// The JSON file's rows.
fn json_rows(path: &std::path::Path) -> Vec<Value> {
    let text = fs::read_to_string(path).expect("the JSON report exists");
    let parsed: Value = serde_json::from_str(&text).expect("the report is JSON");
    parsed.as_array().expect("a JSON array").clone()
}

const FIELDS: [&str; 20] = [
    "size_elems",
    "size_bytes",
    "path",
    "device",
    "software",
    "dtype",
    "scheme",
    "repeats",
    "min_s",
    "median_s",
    "max_s",
    "msamples_per_s",
    "gb_per_s",
    "speedup_vs_cpu",
    "kernel_median_s",
    "kernel_clock",
    "clear_median_s",
    "of_write_bandwidth",
    "workgroup_size",
    "multiply",
];

#[test]
fn cpu_sweep_prints_a_table_and_writes_json_rows_and_an_svg_plot() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rows.json");
    let svg = dir.path().join("plot.svg");
    let out = run(&[
        "--sizes",
        "1024,4096",
        "--dtype",
        "f32,bf16",
        "--repeats",
        "2",
        "--device",
        "cpu",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The header names every column, and each row follows it.
    let text = stdout(&out);
    let header = text.lines().next().expect("a header line");
    for column in [
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
    ] {
        assert!(
            header.contains(column),
            "{column:?} missing from {header:?}"
        );
    }
    let table_rows: Vec<&str> = text.lines().filter(|l| l.contains("CPU path")).collect();
    assert_eq!(table_rows.len(), 4, "{text}");
    assert!(table_rows.iter().all(|l| l.contains("1.00x")), "{text}");

    // Two sizes times two dtypes, in the order of the table, with every field.
    let rows = json_rows(&json);
    assert_eq!(rows.len(), 4);
    for row in &rows {
        for field in FIELDS {
            assert!(row.get(field).is_some(), "{field} missing from {row}");
        }
        assert_eq!(row["device"], "cpu");
        assert_eq!(row["repeats"], 2);
        assert_eq!(row["kernel_median_s"], Value::Null);
        assert_eq!(row["kernel_clock"], Value::Null);
        assert_eq!(row["workgroup_size"], Value::Null);
        assert_eq!(row["clear_median_s"], Value::Null);
        assert_eq!(row["of_write_bandwidth"], Value::Null);
        assert_eq!(row["multiply"], Value::Null);
        let (min, median, max) = (
            row["min_s"].as_f64().unwrap(),
            row["median_s"].as_f64().unwrap(),
            row["max_s"].as_f64().unwrap(),
        );
        assert!(0.0 < min && min <= median && median <= max, "{row}");
        assert!(row["msamples_per_s"].as_f64().unwrap() > 0.0, "{row}");
    }
    let keys: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["size_elems"].as_u64().unwrap(),
                r["dtype"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [(1024, "f32"), (1024, "bf16"), (4096, "f32"), (4096, "bf16")]
    );
    assert_eq!(rows[3]["size_bytes"], 8192);

    let plot = fs::read_to_string(&svg).expect("the SVG plot exists");
    assert!(
        plot.starts_with("<svg") || plot.starts_with("<?xml"),
        "{}",
        &plot[..plot.len().min(80)]
    );
    assert!(plot.contains("M samples/s"), "axis label missing");
}

#[test]
fn png_plot_is_a_png_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("plot.png");
    let out = run(&[
        "--sizes",
        "1024",
        "--repeats",
        "1",
        "--device",
        "cpu",
        "--plot",
        png.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = fs::read(&png).expect("the PNG plot exists");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn bad_report_paths_fail_with_one_line_before_measuring() {
    let dir = tempfile::tempdir().unwrap();
    let jpg = dir.path().join("plot.jpg");
    let missing_dir = dir.path().join("no such dir").join("rows.json");
    let same = dir.path().join("report.svg");
    let same = same.to_str().unwrap();
    for (flags, code) in [
        (vec!["--plot", jpg.to_str().unwrap()], 2),
        (vec!["--json", missing_dir.to_str().unwrap()], 2),
        (vec!["--json", dir.path().to_str().unwrap()], 2),
        (vec!["--json", same, "--plot", same], 2),
    ] {
        let (flag, path) = (flags[0], flags[1]);
        let out = run(&[&["--sizes", "1024", "--device", "cpu"], &flags[..]].concat());
        assert_eq!(
            out.status.code(),
            Some(code),
            "{flag} {path}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "", "nothing is measured for {flag} {path}");
        let err = stderr(&out);
        assert!(
            err.starts_with("error: ") && err.lines().count() == 1,
            "{err}"
        );
    }
}

#[test]
fn bad_sizes_are_usage_errors() {
    for sizes in ["0", "2^64", "1024,abc"] {
        let out = run(&["--sizes", sizes, "--device", "cpu"]);
        assert_eq!(out.status.code(), Some(2), "{sizes}");
        assert!(stderr(&out).contains(sizes), "{}", stderr(&out));
    }
}

#[test]
fn gpu_rows_report_end_to_end_time_a_speedup_and_a_device_time() {
    // Only to learn whether an adapter is usable; the binary opens its own.
    if common::gpu("gpu_rows_report_end_to_end_time_a_speedup_and_a_device_time").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rows.json");
    let out = run(&[
        "--sizes",
        "4096",
        "--repeats",
        "2",
        "--device",
        "all",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let gpu_line = text
        .lines()
        .find(|l| l.contains("GPU "))
        .unwrap_or_else(|| panic!("no GPU row in\n{text}"));
    // The last columns: the device time (a number and a unit) and the bandwidth share.
    let fields: Vec<&str> = gpu_line.split_whitespace().collect();
    let [.., unit, share] = fields[..] else {
        panic!("too few columns in {gpu_line}")
    };
    assert!(unit.ends_with('s'), "no device time in {gpu_line}");
    assert!(share.ends_with('%'), "no bandwidth share in {gpu_line}");

    let rows = json_rows(&json);
    assert_eq!(rows.len(), 2);
    let gpu = &rows[1];
    assert_eq!(gpu["device"], "gpu");
    assert!(
        gpu["kernel_median_s"].as_f64().is_some_and(|s| s > 0.0),
        "{gpu}"
    );
    // lavapipe has timestamp queries, so its kernel time comes from them; other adapters
    // may lack them.
    if gpu["path"].as_str().unwrap().contains("llvmpipe") {
        assert_eq!(gpu["kernel_clock"], "timestamp", "{gpu}");
    } else {
        assert!(
            gpu["kernel_clock"] == "timestamp" || gpu["kernel_clock"] == "host",
            "{gpu}"
        );
    }
    let speedup = gpu["speedup_vs_cpu"]
        .as_f64()
        .expect("a speed-up over the CPU row");
    let ratio = rows[0]["median_s"].as_f64().unwrap() / gpu["median_s"].as_f64().unwrap();
    assert!(
        (speedup - ratio).abs() <= 1e-9 * ratio,
        "{speedup} vs {ratio}"
    );
    if gpu["software"] == true {
        assert!(gpu["path"].as_str().unwrap().contains("software"), "{gpu}");
    }
    assert_eq!(gpu["workgroup_size"], 256, "the kernels' default: {gpu}");
    // The write-bandwidth reference: the device's clear of the same buffer, and the fill's
    // share of it.
    let kernel = gpu["kernel_median_s"].as_f64().unwrap();
    let clear = gpu["clear_median_s"].as_f64().expect("a clear time");
    assert!(clear > 0.0, "{gpu}");
    let share = gpu["of_write_bandwidth"]
        .as_f64()
        .expect("a bandwidth share");
    assert!((share - clear / kernel).abs() <= 1e-9 * share, "{gpu}");
    assert!(gpu["path"].as_str().unwrap().ends_with(" wg 256"), "{gpu}");
    assert!(
        gpu["multiply"] == "Emulated" || gpu["multiply"] == "Int64",
        "{gpu}"
    );
}

#[test]
fn each_workgroup_size_asked_gets_its_own_gpu_rows() {
    if common::gpu("each_workgroup_size_asked_gets_its_own_gpu_rows").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("rows.json");
    let out = run(&[
        "--sizes",
        "4096,8192",
        "--repeats",
        "1",
        "--device",
        "gpu",
        "--workgroup-size",
        "64,1024",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows = json_rows(&json);
    let sizes: Vec<(u64, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["size_elems"].as_u64().unwrap(),
                r["workgroup_size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(sizes, [(4096, 64), (4096, 1024), (8192, 64), (8192, 1024)]);
    for row in &rows {
        let wg = row["workgroup_size"].as_u64().unwrap();
        assert!(
            row["path"]
                .as_str()
                .unwrap()
                .ends_with(&format!(" wg {wg}")),
            "{row}"
        );
    }
}

#[test]
fn a_workgroup_size_past_the_device_limit_is_refused_by_name() {
    if common::gpu("a_workgroup_size_past_the_device_limit_is_refused_by_name").is_none() {
        return;
    }
    let out = run(&[
        "--sizes",
        "4096",
        "--device",
        "gpu",
        "--workgroup-size",
        "65536",
    ]);
    // An invalid argument: exit status 2, as for every bad request.
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("65536"), "{err}");
    assert!(err.contains("workgroup size"), "{err}");
    assert_eq!(stdout(&out), "");
}
