//! Every input fuzzing found (or that broke the generator before: a wide `host.sourcePath`, more
//! containers than ECS allows, deep nesting, a huge placeholder), replayed through the same
//! checks as the fuzz target (`palisade_taskdef::selfcheck::whole_path`).

use std::path::PathBuf;

#[test]
fn what_fuzzing_found_stays_fixed() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions/taskdef");
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 4, "the regressions in {}", dir.display());
    for input in inputs {
        let bytes = std::fs::read(&input).unwrap();
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let outcome =
                std::panic::catch_unwind(|| palisade_taskdef::selfcheck::whole_path(text));
            assert!(outcome.is_ok(), "{} breaks a promise", input.display());
        }
    }
}
