//! The family's policy as the defender keeps it: the one in force (the built-in default, revision
//! 0, until the console sends one), what a new one must pass to replace it, and the file the
//! sidecar keeps it in so a restarted sidecar judges with it before the console answers.
//!
//! The file lives in the sidecar's own file system (`PALISADE_STATE_DIR`, `/var/lib/palisade` by
//! default): a directory of mode 0700 and a file of mode 0600, never the task volume the
//! workloads mount. A workload cannot reach it through `/proc/<sidecar>/root` either: the sidecar
//! is non-dumpable, so that needs `CAP_SYS_PTRACE`, which only the defender's container has.

use palisade_policy::{Policy, MAX_POLICY_BYTES};
use palisade_protocol::PolicyUpdate;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file's name in the state directory.
const FILE: &str = "policy.json";

/// The policy a defender judges with, and its revision (named in every alert).
#[derive(Clone, Debug, PartialEq)]
pub struct InForce {
    pub revision: u64,
    pub policy: Arc<Policy>,
}

impl Default for InForce {
    /// The built-in default: alert mode, every built-in rule, no model; detection works from the
    /// first second.
    fn default() -> Self {
        InForce {
            revision: 0,
            policy: Arc::new(Policy::default()),
        }
    }
}

impl InForce {
    /// `update` when it may be put in force: `Err` says why not (the policy's first problems).
    pub fn checked(update: PolicyUpdate) -> Result<InForce, String> {
        if let Err(problems) = update.policy.check() {
            let said: Vec<String> = problems
                .iter()
                .take(3)
                .map(|problem| format!("{} {}", problem.pointer, problem.message))
                .collect();
            return Err(format!(
                "{} problem(s): {}",
                problems.len(),
                said.join("; ")
            ));
        }
        Ok(InForce {
            revision: update.revision,
            policy: Arc::new(update.policy),
        })
    }

    pub fn update(&self) -> PolicyUpdate {
        PolicyUpdate {
            revision: self.revision,
            policy: Policy::clone(&self.policy),
        }
    }
}

pub fn file(state_dir: &Path) -> PathBuf {
    state_dir.join(FILE)
}

/// The policy kept in `state_dir`, checked; `Ok(None)` when there is none.
pub fn load(state_dir: &Path) -> Result<Option<InForce>, String> {
    let path = file(state_dir);
    let opened = match std::fs::File::open(&path) {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    // A policy is at most MAX_POLICY_BYTES; the envelope adds a few bytes.
    let mut text = Vec::new();
    opened
        .take(MAX_POLICY_BYTES as u64 + 4096)
        .read_to_end(&mut text)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    let update: PolicyUpdate = serde_json::from_slice(&text)
        .map_err(|error| format!("{}: not a policy: {error}", path.display()))?;
    InForce::checked(update).map(Some)
}

/// Keeps `update` in `state_dir` (written aside, then renamed: a crash leaves the old file or
/// the new one, never half of one).
pub fn persist(state_dir: &Path, update: &PolicyUpdate) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)?;
    std::fs::set_permissions(state_dir, std::fs::Permissions::from_mode(0o700))?;
    let partial = state_dir.join(".policy.json.partial");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    out.write_all(&serde_json::to_vec(update).map_err(std::io::Error::other)?)?;
    out.sync_all()?;
    std::fs::rename(&partial, file(state_dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use palisade_policy::{ListEntry, Mode};
    use std::os::unix::fs::PermissionsExt;

    fn prevent(revision: u64) -> PolicyUpdate {
        PolicyUpdate {
            revision,
            policy: Policy {
                mode: Mode::Prevent,
                deny: vec![ListEntry::new("/**/xmrig")],
                ..Policy::default()
            },
        }
    }

    #[test]
    fn a_kept_policy_comes_back_after_a_restart_and_only_the_sidecar_can_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        assert_eq!(load(&state).unwrap(), None, "none kept yet");
        persist(&state, &prevent(3)).unwrap();
        persist(&state, &prevent(4)).unwrap();
        let kept = load(&state).unwrap().unwrap();
        assert_eq!(kept.revision, 4);
        assert_eq!(kept.policy.mode, Mode::Prevent);
        let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&state), 0o700);
        assert_eq!(mode(&file(&state)), 0o600);
    }

    #[test]
    fn a_policy_that_fails_its_check_is_refused_with_its_problems() {
        let mut update = prevent(5);
        update.policy.version = 99;
        update.policy.deny = vec![ListEntry::new("relative")];
        let refused = InForce::checked(update.clone()).unwrap_err();
        assert!(refused.contains("/version"), "{refused}");
        // Kept in a file by something else, it is refused on load too.
        let dir = tempfile::tempdir().unwrap();
        persist(dir.path(), &update).unwrap();
        assert!(load(dir.path()).is_err());
        std::fs::write(file(dir.path()), "{").unwrap();
        assert!(load(dir.path()).unwrap_err().contains("not a policy"));
    }
}
