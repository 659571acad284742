//! What ships the console: the CloudFormation template passes cfn-lint and only sets settings the
//! server reads, and `scripts/build-console-image` makes an OCI image whose binary runs with the
//! libraries packed beside it, as the non-root user, with the database directory on a volume.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn run(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|error| {
        panic!("{what} could not start (scripts/setup --test installs it): {error}")
    });
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_cloudformation_template_passes_cfn_lint_and_sets_only_known_settings() {
    let template = repository().join("deploy/console.yaml");
    // Through python3 rather than the `cfn-lint` script, which pyenv only shims after a rehash.
    run(
        Command::new("python3")
            .args([
                "-c",
                "import sys; from cfnlint.runner import main; sys.exit(main())",
            ])
            .arg(&template),
        "cfn-lint (python3 -m pip install cfn-lint)",
    );

    let text = std::fs::read_to_string(&template).unwrap();
    let config = include_str!("../../src/config.rs");
    let settings: Vec<&str> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- Name: PALISADE_"))
        .collect();
    assert!(
        settings.contains(&"PUBLIC_URL"),
        "the template must set PALISADE_PUBLIC_URL: {settings:?}"
    );
    for setting in settings {
        assert!(
            config.contains(&format!("\"PALISADE_{setting}\"")),
            "deploy/console.yaml sets PALISADE_{setting}, which the server does not read"
        );
    }
}

#[test]
fn the_console_image_runs_as_its_own_user_with_what_it_needs() {
    let scratch = tempfile::tempdir().unwrap();
    let site = scratch.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("pkg/palisade.css"), "body {}").unwrap();
    let layout = scratch.path().join("layout");
    let context = scratch.path().join("context");
    run(
        Command::new(repository().join("scripts/build-console-image"))
            .env("PALISADE_IMAGE_BINARY", env!("CARGO_BIN_EXE_palisade"))
            .env("PALISADE_IMAGE_SITE", &site)
            .env("PALISADE_IMAGE_LAYOUT", &layout)
            .env("PALISADE_IMAGE_CONTEXT", &context)
            .env("PALISADE_IMAGE_TAG", "test"),
        "scripts/build-console-image",
    );

    // The image's configuration, read back from the layout by umoci.
    let image = format!("{}:test", layout.display());
    let stat = run(
        Command::new("umoci").args(["stat", "--json", "--image", &image]),
        "umoci stat",
    );
    let history: Value = serde_json::from_slice(&stat.stdout).unwrap();
    let layers = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|entry| !entry["layer"].is_null());
    assert_eq!(layers.count(), 1, "one layer: {history}");
    let config = image_config(&layout);
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/usr/local/bin/palisade"])
    );
    assert_eq!(config["Cmd"], serde_json::json!(["serve"]));
    assert!(
        config["Volumes"].get("/var/lib/palisade").is_some(),
        "{config}"
    );
    let environment: Vec<&str> = config["Env"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in [
        "PALISADE_ADDR=0.0.0.0:3000",
        "PALISADE_DEFENDER_ADDR=0.0.0.0:3001",
        "PALISADE_SITE_ROOT=/srv/palisade/site",
    ] {
        assert!(
            environment.contains(&wanted),
            "{wanted} missing from {environment:?}"
        );
    }

    // Unpacked, the files belong to root except the database directory, and the binary starts
    // with only the libraries the image carries (its own loader, its own library directories).
    let bundle = scratch.path().join("bundle");
    run(
        Command::new("umoci")
            .args(["unpack", "--rootless", "--image", &image])
            .arg(&bundle),
        "umoci unpack",
    );
    let rootfs = bundle.join("rootfs");
    assert!(rootfs.join("srv/palisade/site/pkg/palisade.css").is_file());
    assert!(rootfs.join("etc/ssl/certs/ca-certificates.crt").is_file());
    let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).unwrap();
    assert!(passwd.contains("palisade:x:65532:65532:"), "{passwd}");
    // The defender binaries the console publishes, where it looks for them in its image.
    let defenders =
        rootfs.join(palisade_console::defender_image::binaries::IMAGE_DIR.trim_start_matches('/'));
    if let Err(missing) = palisade_console::defender_image::binaries::locate(&[defenders]) {
        panic!("the console image lacks the defender binaries: {missing}");
    }
    let layer_owners = layer_listing(&context.join("layer.tar"));
    assert!(
        layer_owners
            .iter()
            .any(|line| line.contains("65532/65532") && line.ends_with("./var/lib/palisade/")),
        "the database directory belongs to the console's user: {layer_owners:?}"
    );
    assert!(
        layer_owners
            .iter()
            .any(|line| line.contains("0/0") && line.ends_with("./usr/local/bin/palisade")),
        "the binary belongs to root, so the console cannot rewrite itself: {layer_owners:?}"
    );

    let loader = std::fs::read_dir(rootfs.join("lib64"))
        .expect("the image carries the dynamic loader in /lib64")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("ld-linux")
        })
        .expect("an ld-linux loader in /lib64");
    let library_path = [
        "lib",
        "lib64",
        "usr/lib",
        "lib/x86_64-linux-gnu",
        "usr/lib/x86_64-linux-gnu",
    ]
    .map(|directory| rootfs.join(directory).display().to_string())
    .join(":");
    // The loader falls back to this machine's /lib when the image lacks a library, so check
    // where each one resolved, then start it.
    let resolved = run(
        Command::new(&loader)
            .args(["--inhibit-cache", "--list", "--library-path", &library_path])
            .arg(rootfs.join("usr/local/bin/palisade"))
            .env_clear(),
        "the image's loader --list",
    );
    for line in String::from_utf8_lossy(&resolved.stdout).lines() {
        if let Some((_, path)) = line.split_once("=> ") {
            assert!(
                path.starts_with(&rootfs.display().to_string()),
                "a library resolved outside the image: {line}"
            );
        }
    }
    let version = run(
        Command::new(&loader)
            .arg("--inhibit-cache")
            .arg("--library-path")
            .arg(&library_path)
            .arg(rootfs.join("usr/local/bin/palisade"))
            .arg("--version")
            .env_clear(),
        "the image's palisade --version",
    );
    assert!(
        String::from_utf8_lossy(&version.stdout).starts_with("palisade "),
        "{version:?}"
    );
}

/// The image configuration blob, found through the layout's index and manifest.
fn image_config(layout: &Path) -> Value {
    let blob = |digest: &str| -> Value {
        let path = layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let index: Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let manifest = blob(index["manifests"][0]["digest"].as_str().unwrap());
    blob(manifest["config"]["digest"].as_str().unwrap())["config"].clone()
}

/// `tar --list --verbose --numeric-owner` of the layer: one line per entry with owner/group.
fn layer_listing(layer: &Path) -> Vec<String> {
    let listing = run(
        Command::new("tar")
            .args(["--list", "--verbose", "--numeric-owner", "--file"])
            .arg(layer),
        "tar --list",
    );
    String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}
