//! The defender binaries the console publishes: one static Linux executable per architecture,
//! found where the console image puts them, or where `scripts/build-defender` writes them in a
//! source checkout, and checked (an ELF for the right machine, no dynamic loader) before anything
//! is built from them.

use std::path::{Path, PathBuf};

/// The architectures the defender image holds, as OCI names them.
pub const ARCHITECTURES: [Architecture; 2] = [Architecture::Amd64, Architecture::Arm64];

/// The file name inside each architecture's directory, and inside the image.
pub const BINARY_NAME: &str = "palisade-defender";

/// Where the console image (`scripts/build-console-image`) puts the binaries.
pub const IMAGE_DIR: &str = "/usr/local/lib/palisade/defender";

/// A defender binary is a few MiB; anything far bigger is not one.
const MAX_BINARY_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Architecture {
    Amd64,
    Arm64,
}

impl Architecture {
    /// OCI's (and Docker's, and `scripts/build-defender`'s) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Amd64 => "amd64",
            Architecture::Arm64 => "arm64",
        }
    }

    /// ELF's `e_machine` for it.
    fn elf_machine(self) -> u16 {
        match self {
            Architecture::Amd64 => 0x3e,
            Architecture::Arm64 => 0xb7,
        }
    }
}

/// One checked binary, read whole (the image layer is built from these bytes, so what was
/// checked is what is published).
#[derive(Clone)]
pub struct DefenderBinary {
    pub architecture: Architecture,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for DefenderBinary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefenderBinary")
            .field("architecture", &self.architecture)
            .field("path", &self.path)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

/// The directories searched, in order: the one the deployment names
/// (`PALISADE_DEFENDER_BINARIES`) alone when it names one; else the console image's, then this
/// source checkout's `target/defender`.
pub fn search_dirs(configured: Option<&Path>) -> Vec<PathBuf> {
    match configured {
        Some(dir) => vec![dir.to_owned()],
        None => vec![
            PathBuf::from(IMAGE_DIR),
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/defender"),
        ],
    }
}

/// Both binaries from the first directory of `dirs` holding each, or every reason one is
/// missing or unusable, with where it was looked for and how to build it.
pub fn locate(dirs: &[PathBuf]) -> Result<Vec<DefenderBinary>, String> {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for architecture in ARCHITECTURES {
        let candidates: Vec<PathBuf> = dirs
            .iter()
            .map(|dir| dir.join(architecture.as_str()).join(BINARY_NAME))
            .collect();
        match candidates.iter().find(|path| path.exists()) {
            Some(path) => match read_checked(path, architecture) {
                Ok(bytes) => found.push(DefenderBinary {
                    architecture,
                    path: path.clone(),
                    bytes,
                }),
                Err(reason) => problems.push(format!("{}: {reason}", path.display())),
            },
            None => problems.push(format!(
                "no linux/{} defender binary (looked for {}); build it with `scripts/build-defender {}`",
                architecture.as_str(),
                candidates
                    .iter()
                    .map(|path| path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                architecture.as_str()
            )),
        }
    }
    if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems.join("; "))
    }
}

/// The file's bytes when it is a regular file holding a static 64-bit little-endian ELF
/// executable for `architecture`.
fn read_checked(path: &Path, architecture: Architecture) -> Result<Vec<u8>, String> {
    let metadata = std::fs::metadata(path).map_err(|error| format!("cannot be read: {error}"))?;
    if !metadata.is_file() {
        return Err("is not a regular file".into());
    }
    if metadata.len() > MAX_BINARY_BYTES {
        return Err(format!(
            "is {} MiB, not a defender binary",
            metadata.len() >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|error| format!("cannot be read: {error}"))?;
    check_elf(&bytes, architecture)?;
    Ok(bytes)
}

/// Refuses what would not run as the image's entrypoint on `architecture`: not an ELF
/// executable, another machine, or a dynamically linked one (`FROM scratch` has no loader).
pub fn check_elf(bytes: &[u8], architecture: Architecture) -> Result<(), String> {
    let u16_at = |at: usize| {
        bytes
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |at: usize| {
        bytes
            .get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |at: usize| {
        bytes
            .get(at..at + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    // 64-bit (class 2), little-endian (data 1).
    if bytes.get(..6) != Some(&[0x7f, b'E', b'L', b'F', 2, 1][..]) {
        return Err("is not a 64-bit little-endian ELF executable".into());
    }
    // e_type: 2 = executable, 3 = shared object (static-pie binaries are this kind).
    if !matches!(u16_at(16), Some(2 | 3)) {
        return Err("is an ELF file but not an executable".into());
    }
    let machine = u16_at(18).unwrap_or_default();
    if machine != architecture.elf_machine() {
        let other = ARCHITECTURES
            .iter()
            .find(|other| other.elf_machine() == machine)
            .map_or_else(
                || format!("machine {machine:#x}"),
                |other| other.as_str().to_owned(),
            );
        return Err(format!(
            "is built for {other}, not {}",
            architecture.as_str()
        ));
    }
    let (Some(table), Some(entry_size), Some(entries)) = (u64_at(0x20), u16_at(0x36), u16_at(0x38))
    else {
        return Err("has a truncated ELF header".into());
    };
    const PT_INTERP: u32 = 3;
    for index in 0..u64::from(entries) {
        let at = table
            .checked_add(index * u64::from(entry_size))
            .and_then(|at| usize::try_from(at).ok())
            .ok_or("has a program header table outside the file")?;
        if bytes.len() < at.saturating_add(usize::from(entry_size)) {
            return Err("has a program header table outside the file".into());
        }
        match u32_at(at) {
            Some(PT_INTERP) => {
                return Err(
                    "is dynamically linked (it names a loader): build the static one with scripts/build-defender"
                        .into(),
                )
            }
            Some(_) => {}
            None => return Err("has a program header table outside the file".into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF header with `entries` program headers of `types`.
    fn elf(machine: u16, types: &[u32]) -> Vec<u8> {
        let mut bytes = vec![0u8; 64];
        bytes[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        bytes[16..18].copy_from_slice(&2u16.to_le_bytes());
        bytes[18..20].copy_from_slice(&machine.to_le_bytes());
        bytes[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        bytes[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        bytes[0x38..0x3a].copy_from_slice(&(types.len() as u16).to_le_bytes());
        for kind in types {
            let mut header = vec![0u8; 56];
            header[..4].copy_from_slice(&kind.to_le_bytes());
            bytes.extend(header);
        }
        bytes
    }

    #[test]
    fn only_a_static_executable_for_the_architecture_is_taken() {
        assert_eq!(check_elf(&elf(0x3e, &[1, 1]), Architecture::Amd64), Ok(()));
        assert_eq!(check_elf(&elf(0xb7, &[1]), Architecture::Arm64), Ok(()));
        let refused = |bytes: &[u8], architecture| check_elf(bytes, architecture).unwrap_err();
        assert!(
            refused(&elf(0xb7, &[1]), Architecture::Amd64).contains("built for arm64, not amd64")
        );
        assert!(refused(&elf(0x3e, &[1, 3]), Architecture::Amd64).contains("dynamically linked"));
        assert!(refused(b"#!/bin/sh\necho hi\n", Architecture::Amd64).contains("not a 64-bit"));
        let mut truncated = elf(0x3e, &[1]);
        truncated.truncate(70);
        assert!(refused(&truncated, Architecture::Amd64).contains("outside the file"));
        assert!(refused(&elf(0x3e, &[])[..40], Architecture::Amd64).contains("truncated"));
    }

    #[test]
    fn a_missing_binary_is_named_with_where_it_was_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let amd64 = dir.path().join("amd64");
        std::fs::create_dir_all(&amd64).unwrap();
        std::fs::write(amd64.join(BINARY_NAME), elf(0x3e, &[1])).unwrap();
        let missing = locate(&[dir.path().to_owned()]).unwrap_err();
        assert!(
            missing.contains("no linux/arm64 defender binary")
                && missing.contains(
                    &dir.path()
                        .join("arm64")
                        .join(BINARY_NAME)
                        .display()
                        .to_string()
                )
                && missing.contains("scripts/build-defender arm64")
                && !missing.contains("linux/amd64"),
            "{missing}"
        );
        let arm64 = dir.path().join("arm64");
        std::fs::create_dir_all(&arm64).unwrap();
        std::fs::write(arm64.join(BINARY_NAME), elf(0x3e, &[1])).unwrap();
        let swapped = locate(&[dir.path().to_owned()]).unwrap_err();
        assert!(swapped.contains("built for amd64, not arm64"), "{swapped}");
        std::fs::write(arm64.join(BINARY_NAME), elf(0xb7, &[1])).unwrap();
        let found = locate(&[dir.path().to_owned()]).unwrap();
        assert_eq!(
            found
                .iter()
                .map(|binary| binary.architecture)
                .collect::<Vec<_>>(),
            ARCHITECTURES
        );
    }
}
