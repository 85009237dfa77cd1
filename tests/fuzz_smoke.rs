//! A short run of the fuzz targets on the stable toolchain, without libFuzzer: every input
//! kept in `fuzz/corpus/<target>/` is replayed through the same function `cargo fuzz` runs,
//! then a few thousand inputs from a seeded generator (random bytes for the structured
//! targets, mutated corpus files for the HAR importer). The long runs are described in
//! `fuzz/README.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/harness.rs"]
mod harness;

use std::path::{Path, PathBuf};

/// Random inputs per target: a few seconds in all in the dev profile.
const RANDOM_INPUTS: usize = 1500;

/// Longest random input, in bytes.
const MAX_RANDOM_LEN: usize = 4096;

#[path = "common/rng.rs"]
mod rng;
use rng::Rng;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

fn target(name: &str) -> harness::Target {
    harness::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap()
}

fn replay(name: &str) {
    let run = target(name);
    let files = corpus(name);
    assert!(!files.is_empty(), "fuzz/corpus/{name} is empty");
    for (path, bytes) in &files {
        let r = std::panic::catch_unwind(|| run(bytes));
        assert!(r.is_ok(), "{name} fails on {}", path.display());
    }
}

/// A corpus file with a few bytes changed, cut, or spliced with another one.
fn mutate(rng: &mut Rng, files: &[(PathBuf, Vec<u8>)]) -> Vec<u8> {
    let mut b = files[rng.below(files.len())].1.clone();
    for _ in 0..=rng.below(4) {
        match rng.below(4) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = rng.next() as u8;
            }
            1 if !b.is_empty() => b.truncate(rng.below(b.len())),
            2 => {
                let other = &files[rng.below(files.len())].1;
                let at = rng.below(b.len() + 1);
                let from = rng.below(other.len() + 1);
                let to = from + rng.below(other.len() - from + 1);
                b.splice(at..at, other[from..to].iter().copied());
            }
            _ => {
                let at = rng.below(b.len() + 1);
                let n = rng.below(8);
                let junk = rng.bytes(n);
                b.splice(at..at, junk);
            }
        }
    }
    b
}

fn random(name: &str, seed: u64, from_corpus: bool) {
    let run = target(name);
    let files = corpus(name);
    let mut rng = Rng(seed);
    for i in 0..RANDOM_INPUTS {
        let input = if from_corpus && !files.is_empty() {
            mutate(&mut rng, &files)
        } else {
            let len = rng.below(MAX_RANDOM_LEN);
            rng.bytes(len)
        };
        let r = std::panic::catch_unwind(|| run(&input));
        assert!(r.is_ok(), "{name}: random input {i} (seed {seed}) fails");
    }
}

#[test]
fn headers_corpus() {
    replay("headers");
}

#[test]
fn engine_corpus() {
    replay("engine");
}

#[test]
fn har_import_corpus() {
    replay("har_import");
}

#[test]
fn headers_random() {
    random("headers", 0x1e4d_e125, false);
}

#[test]
fn engine_random() {
    random("engine", 0x00e9_617e, false);
}

#[test]
fn har_import_mutated() {
    random("har_import", 0x4a12, true);
}
