//! The defender image, built in memory from the binaries without Docker: per architecture one
//! gzip layer holding `/palisade-defender` (root-owned, 0755, time 0), an OCI config whose
//! entrypoint is that binary, and a manifest; then an index of both. Everything is
//! deterministic, so the same binaries always give the same digests (publishing again pushes
//! nothing new).

use super::binaries::{Architecture, DefenderBinary, BINARY_NAME};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Write;

pub const INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";
pub const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Where the image says its source is (an OCI label).
pub const SOURCE_URL: &str = "https://github.com/palisade/palisade";

/// One piece of the image as the registry stores it: bytes, their media type and digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Content {
    pub media_type: &'static str,
    pub digest: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Content {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Content")
            .field("media_type", &self.media_type)
            .field("digest", &self.digest)
            .field("size", &self.bytes.len())
            .finish()
    }
}

impl Content {
    fn new(media_type: &'static str, bytes: Vec<u8>) -> Content {
        Content {
            media_type,
            digest: sha256(&bytes),
            bytes,
        }
    }

    /// Its OCI descriptor.
    fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest, "size": self.bytes.len() })
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// The whole image: blobs (layers and configs), the per-architecture manifests, the index.
#[derive(Clone, Debug)]
pub struct DefenderImage {
    pub blobs: Vec<Content>,
    pub manifests: Vec<Content>,
    pub index: Content,
}

/// The layer: a tar of one file, owned by root, executable, dated 1970 (reproducible), gzipped.
/// Answers (the gzip blob, the tar's digest: the config's `diff_id`).
fn layer(binary: &[u8]) -> std::io::Result<(Content, String)> {
    let mut header = tar::Header::new_ustar();
    header.set_path(BINARY_NAME)?;
    header.set_size(binary.len() as u64);
    header.set_mode(0o755);
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    let mut archive = tar::Builder::new(Vec::new());
    archive.append(&header, binary)?;
    let tar = archive.into_inner()?;
    let diff_id = sha256(&tar);
    // No file name and time 0 in the gzip header: the same tar always compresses the same.
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::best());
    gzip.write_all(&tar)?;
    Ok((Content::new(LAYER_TYPE, gzip.finish()?), diff_id))
}

/// The OCI labels every part carries.
fn labels() -> Value {
    json!({
        "org.opencontainers.image.title": "palisade-defender",
        "org.opencontainers.image.description": "The Palisade defender: a sidecar for ECS tasks",
        "org.opencontainers.image.version": env!("CARGO_PKG_VERSION"),
        "org.opencontainers.image.source": SOURCE_URL,
        "org.opencontainers.image.licenses": env!("CARGO_PKG_LICENSE"),
    })
}

fn platform(architecture: Architecture) -> Value {
    match architecture {
        Architecture::Amd64 => json!({ "architecture": "amd64", "os": "linux" }),
        Architecture::Arm64 => json!({ "architecture": "arm64", "os": "linux", "variant": "v8" }),
    }
}

/// The image of `binaries` (one per architecture).
pub fn build(binaries: &[DefenderBinary]) -> std::io::Result<DefenderImage> {
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    let mut entries = Vec::new();
    for binary in binaries {
        let (layer, diff_id) = layer(&binary.bytes)?;
        let mut config = platform(binary.architecture);
        config["config"] = json!({
            // Root: the sidecar copies itself into the task volume (root-owned on Fargate) and
            // reads other containers' /proc/<pid>/root, which SYS_PTRACE grants only to root.
            "User": "0:0",
            "Entrypoint": [format!("/{BINARY_NAME}")],
            "Cmd": ["run"],
            "Labels": labels(),
        });
        config["rootfs"] = json!({ "type": "layers", "diff_ids": [diff_id] });
        config["history"] = json!([{ "created_by": "palisade defender-image publish" }]);
        let config = Content::new(CONFIG_TYPE, serde_json::to_vec(&config)?);
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": config.descriptor(),
            "layers": [layer.descriptor()],
            "annotations": labels(),
        });
        let manifest = Content::new(MANIFEST_TYPE, serde_json::to_vec(&manifest)?);
        let mut entry = manifest.descriptor();
        entry["platform"] = platform(binary.architecture);
        entries.push(entry);
        blobs.extend([layer, config]);
        manifests.push(manifest);
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": INDEX_TYPE,
        "manifests": entries,
        "annotations": labels(),
    });
    Ok(DefenderImage {
        blobs,
        manifests,
        index: Content::new(INDEX_TYPE, serde_json::to_vec(&index)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defender_image::binaries::ARCHITECTURES;
    use std::io::Read;

    fn binaries(text: &str) -> Vec<DefenderBinary> {
        ARCHITECTURES
            .iter()
            .map(|&architecture| DefenderBinary {
                architecture,
                path: BINARY_NAME.into(),
                bytes: format!("{text} for {}", architecture.as_str()).into_bytes(),
            })
            .collect()
    }

    #[test]
    fn the_same_binaries_give_the_same_digests_and_others_do_not() {
        let first = build(&binaries("defender 1")).unwrap();
        assert_eq!(first.index, build(&binaries("defender 1")).unwrap().index);
        assert_ne!(
            first.index.digest,
            build(&binaries("defender 2")).unwrap().index.digest
        );
    }

    #[test]
    fn the_index_names_one_manifest_per_platform_and_each_runs_its_binary() {
        let image = build(&binaries("defender")).unwrap();
        let index: Value = serde_json::from_slice(&image.index.bytes).unwrap();
        let platforms: Vec<&Value> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| &entry["platform"])
            .collect();
        assert_eq!(platforms[0]["architecture"], "amd64");
        assert_eq!(platforms[1]["architecture"], "arm64");
        for (entry, manifest) in index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&image.manifests)
        {
            assert_eq!(entry["digest"], manifest.digest);
            assert_eq!(entry["size"], manifest.bytes.len());
            let manifest: Value = serde_json::from_slice(&manifest.bytes).unwrap();
            let find = |digest: &Value| {
                image
                    .blobs
                    .iter()
                    .find(|blob| blob.digest == digest.as_str().unwrap())
                    .unwrap()
            };
            let config: Value =
                serde_json::from_slice(&find(&manifest["config"]["digest"]).bytes).unwrap();
            assert_eq!(
                config["config"]["Entrypoint"],
                json!(["/palisade-defender"])
            );
            assert_eq!(config["architecture"], entry["platform"]["architecture"]);
            assert_eq!(
                config["config"]["Labels"]["org.opencontainers.image.version"],
                env!("CARGO_PKG_VERSION")
            );
            // The layer unpacks to the binary, root-owned and executable; its tar is the diff_id.
            let layer = find(&manifest["layers"][0]["digest"]);
            let mut tar = Vec::new();
            flate2::read::GzDecoder::new(&layer.bytes[..])
                .read_to_end(&mut tar)
                .unwrap();
            assert_eq!(config["rootfs"]["diff_ids"][0], sha256(&tar));
            let mut archive = tar::Archive::new(&tar[..]);
            let mut files = archive.entries().unwrap();
            let mut file = files.next().unwrap().unwrap();
            assert_eq!(file.path().unwrap().to_str(), Some("palisade-defender"));
            assert_eq!(
                (file.header().mode().unwrap(), file.header().uid().unwrap()),
                (0o755, 0)
            );
            let mut content = String::new();
            file.read_to_string(&mut content).unwrap();
            assert_eq!(
                content,
                format!("defender for {}", config["architecture"].as_str().unwrap())
            );
            drop(file);
            assert!(files.next().is_none());
        }
    }
}
