//! The team's task-definition corpus, `shared/corpus/` beside the clone, for the tests of every
//! crate of the workspace (each crate sits one level below the root, so the path is the same).
//! A test that needs it says plainly where it looked when it is absent.

use std::path::PathBuf;

/// Every corpus file as (file name, text), by name.
pub fn corpus() -> Vec<(String, String)> {
    // Read at run time: a test binary built by another clone must not look in that clone.
    let dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
        .join("../../shared/corpus");
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|error| {
        panic!("this test needs the task-definition corpus at {} (the team's shared/ folder beside the clone): {error}", dir.display())
    });
    let mut files: Vec<(String, String)> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 51,
        "the corpus at {} has 51 files, found {}",
        dir.display(),
        files.len()
    );
    files
}
