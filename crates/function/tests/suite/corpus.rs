//! The fuzz targets' corpora, replayed on every run: every committed input (`fuzz/corpus/TARGET`) and every saved
//! crash (`fuzz/artifacts/TARGET`, when a fuzzing run left one) goes through the same oracle the fuzzer uses, so
//! what fuzzing found stays found. Exploration for new inputs is `scripts/fuzz`, run before a release.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use stop_gateway_core::oracles;

/// Every file under `fuzz/{corpus,artifacts}/target`.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = testkit::repo().join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "artifacts"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(fuzz.join(dir).join(target)).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, oracle: fn(&[u8]), at_least: usize) {
    let files = inputs(target);
    assert!(files.len() >= at_least, "{target}: {} corpus inputs found, expected at least {at_least}", files.len());
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let replayed = std::panic::catch_unwind(|| oracle(&data));
        assert!(replayed.is_ok(), "{target}: the oracle fails on {}", file.display());
    }
}

#[test]
fn every_ingress_corpus_input_holds_the_invariants() {
    replay("ingress", oracles::ingress, 30);
}

#[test]
fn every_arn_corpus_input_holds_the_invariants() {
    replay("arn", oracles::arn, 10);
}

#[test]
fn every_policy_corpus_input_holds_the_invariants() {
    replay("policy", oracles::policy, 2);
}
