//! The spec-file and config readers on malformed input: every input gives a model or a clean
//! one-line error, never a panic. Inputs are the seed corpus in `tests/data/fuzz/{spec,config}`
//! (valid files, tricky ones, and inputs that once failed) with random mutations of it, random
//! bytes, both drawn from our own Philox generator so that every run tries the same inputs,
//! and the corpus cargo-fuzz grew from the seeds, minimized, in
//! `tests/data/fuzz/{spec,config}-found` (see `fuzz/README.md`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rand_core::Rng;
use weight_init::model::{Model, SpecFormat};
use weight_init::philox::PhiloxRng;

/// Mutated inputs per corpus file.
const MUTATIONS_PER_FILE: usize = 400;
/// Random byte strings.
const RANDOM_INPUTS: usize = 2000;

/// The files of `tests/data/fuzz/<dir>`.
fn corpus(dir: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(dir);
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {}", dir.display());
    files
}

/// Feeds `bytes` to every reader of `kind` ("spec": JSON and TOML; "config": Hugging Face
/// config); `Err` describes a panic or an error that is not one readable line.
fn feed(kind: &str, bytes: &[u8]) -> Result<(), String> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        // The readers take text; the file reader turns other bytes into an error first.
        return Ok(());
    };
    let results = catch_unwind(AssertUnwindSafe(|| match kind {
        "spec" => vec![
            Model::from_spec_str(text, SpecFormat::Json),
            Model::from_spec_str(text, SpecFormat::Toml),
        ],
        _ => vec![Model::from_hf_config_str(text)],
    }))
    .map_err(|_| "panicked".to_string())?;
    for result in results {
        if let Err(e) = result {
            let message = e.to_string();
            if message.is_empty() || message.contains('\n') {
                return Err(format!("message {message:?} is not one line"));
            }
        }
    }
    Ok(())
}

/// Tokens that parsers treat specially, spliced into mutated inputs.
const TOKENS: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "=",
    "\n",
    "[[tensors]]",
    "-",
    "0",
    "1e400",
    "18446744073709551616",
    "-1",
    "nan",
    "inf",
    "\\u0000",
    "\\ud800",
    "\u{feff}",
    "null",
    "true",
    "(",
    ")",
    "he(",
    "normal(std=",
    "\"shape\": [",
    "\"name\": \"a\"",
    "'''",
    "\"\"\"",
    "#",
    "n_layer",
    "\"model_type\": \"llama\"",
    "9223372036854775808",
];

/// `input` changed in one to four places: bytes flipped, removed, repeated or replaced by a
/// token, or the input cut short.
fn mutate(rng: &mut PhiloxRng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.next_u32() % 4 {
        let at = if out.is_empty() {
            0
        } else {
            rng.next_u32() as usize % out.len()
        };
        match rng.next_u32() % 6 {
            0 if !out.is_empty() => out[at] ^= 1 << (rng.next_u32() % 8),
            1 if !out.is_empty() => {
                let end = (at + 1 + rng.next_u32() as usize % 16).min(out.len());
                out.drain(at..end);
            }
            2 => {
                let token = TOKENS[rng.next_u32() as usize % TOKENS.len()];
                out.splice(at..at, token.bytes());
            }
            3 => out.truncate(at),
            4 if !out.is_empty() => {
                let end = (at + 1 + rng.next_u32() as usize % 64).min(out.len());
                let piece = out[at..end].to_vec();
                out.splice(at..at, piece);
            }
            _ => out.insert(at, rng.next_u32() as u8),
        }
    }
    out
}

fn check_kind(kind: &str, stream: u64) {
    let mut failures = Vec::new();
    let mut rng = PhiloxRng::new(2024, stream);
    for (path, bytes) in corpus(&format!("{kind}-found")) {
        if let Err(why) = feed(kind, &bytes) {
            failures.push(format!("{}: {why}", path.display()));
        }
    }
    for (path, bytes) in corpus(kind) {
        if let Err(why) = feed(kind, &bytes) {
            failures.push(format!("{}: {why}", path.display()));
        }
        for i in 0..MUTATIONS_PER_FILE {
            let input = mutate(&mut rng, &bytes);
            if let Err(why) = feed(kind, &input) {
                failures.push(format!(
                    "mutation {i} of {}: {why}: {:?}",
                    path.display(),
                    String::from_utf8_lossy(&input)
                ));
            }
        }
    }
    for i in 0..RANDOM_INPUTS {
        let len = rng.next_u32() as usize % 256;
        // Printable ASCII half the time, so that more inputs get past UTF-8 decoding.
        let ascii = i % 2 == 0;
        let input: Vec<u8> = (0..len)
            .map(|_| {
                let b = rng.next_u32() as u8;
                if ascii { b % 95 + 32 } else { b }
            })
            .collect();
        if let Err(why) = feed(kind, &input) {
            failures.push(format!("random input {i}: {why}: {input:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn spec_readers_give_a_model_or_a_clean_error_for_any_input() {
    check_kind("spec", 1);
}

#[test]
fn config_reader_gives_a_model_or_a_clean_error_for_any_input() {
    check_kind("config", 2);
}
