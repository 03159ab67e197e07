//! Test helpers shared by the store's tests: the Java-written fixtures.
//!
//! The fixtures live in `shared/fixtures` beside the repository (found through
//! `$APOGEE_FIXTURES_DIR`, then `<crate>/../shared/fixtures`, then `/work/shared/fixtures`).
//! They are required: a missing fixture directory fails the test instead of skipping it.
//! They are never modified: each test extracts its own copy into a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fixture directory.
pub fn fixtures_dir() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(d) = std::env::var_os("APOGEE_FIXTURES_DIR") {
        candidates.push(PathBuf::from(d));
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures"));
    candidates.push(PathBuf::from("/work/shared/fixtures"));
    candidates
        .into_iter()
        .find(|d| d.join("java-4.9.8-clean.tar.gz").is_file())
        .expect("Java fixtures not found: set APOGEE_FIXTURES_DIR to shared/fixtures")
}

/// Extract `archive` (optionally only some members) into a fresh temporary directory.
pub fn extract(archive: &str, members: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(fixtures_dir().join(archive))
        .arg("-C")
        .arg(dir.path())
        .args(members)
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed on {archive}");
    dir
}

/// Lines of a JSON-lines fixture file.
pub fn json_lines(name: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(fixtures_dir().join(name)).expect("read fixture");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect()
}
