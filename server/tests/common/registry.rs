//! A real registry on loopback for the tests and the resolve benchmark: Debian's
//! `docker-registry` with its own storage, images built by `umoci` and pushed by `skopeo`
//! (`scripts/setup --test` installs the three).

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|error| {
            panic!("{program} must be installed (scripts/setup --test installs it): {error}")
        });
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `docker-registry` on a free loopback port with its own storage, killed when dropped.
pub struct Registry {
    child: Child,
    pub host: String,
    /// `user:password` when the registry requires them (htpasswd).
    credentials: Option<String>,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, None)
    }

    /// A registry that requires `user` / `password` (an htpasswd file made by Debian's htpasswd).
    pub fn start_with(dir: &Path, login: Option<(&str, &str)>) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join(format!("registry-{port}.yml"));
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join(format!("storage-{port}")).display()
        );
        if let Some((user, password)) = login {
            let htpasswd = dir.join(format!("htpasswd-{port}"));
            let output = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output()
                .expect("htpasswd (Debian's apache2-utils) must be installed (scripts/setup --test installs it)");
            std::fs::write(&htpasswd, output.stdout).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry must be installed (scripts/setup --test installs it)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            host: format!("127.0.0.1:{port}"),
            credentials: login.map(|(user, password)| format!("{user}:{password}")),
        }
    }

    /// Builds an image with `umoci` (empty rootfs, the given config) and pushes it as `name:tag`.
    pub fn push(
        &self,
        dir: &Path,
        name: &str,
        tag: &str,
        arch: &str,
        entrypoint: &[&str],
        cmd: &[&str],
    ) {
        let layout = dir.join(format!("layout-{}-{tag}", name.replace('/', "-")));
        let layout = layout.to_str().unwrap();
        run("umoci", &["init", "--layout", layout]);
        let image = format!("{layout}:{tag}");
        run("umoci", &["new", "--image", &image]);
        let mut config = vec![
            "config",
            "--image",
            &image,
            "--architecture",
            arch,
            "--os",
            "linux",
        ];
        for part in entrypoint {
            config.extend(["--config.entrypoint", part]);
        }
        for part in cmd {
            config.extend(["--config.cmd", part]);
        }
        run("umoci", &config);
        let source = format!("oci:{image}");
        let destination = format!("docker://{}/{name}:{tag}", self.host);
        let mut copy = vec![
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &source,
            &destination,
        ];
        if let Some(credentials) = &self.credentials {
            copy.extend(["--dest-creds", credentials]);
        }
        run("skopeo", &copy);
    }

    /// Tags `name:from` as `name:to` too (the same manifest, put under another tag).
    pub fn tag(&self, name: &str, from: &str, to: &str) {
        let client = reqwest::blocking::Client::new();
        let media_type = "application/vnd.oci.image.manifest.v1+json";
        let manifest = client
            .get(format!("http://{}/v2/{name}/manifests/{from}", self.host))
            .header("accept", media_type)
            .send()
            .and_then(|response| response.bytes())
            .unwrap();
        let put = client
            .put(format!("http://{}/v2/{name}/manifests/{to}", self.host))
            .header("content-type", media_type)
            .body(manifest)
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().unwrap());
    }

    /// Puts an OCI index `name:tag` over the given per-platform tags.
    pub fn push_index(&self, name: &str, tag: &str, platforms: &[(&str, &str)]) {
        let client = reqwest::blocking::Client::new();
        let manifests: Vec<Value> = platforms
            .iter()
            .map(|(arch, platform_tag)| {
                let response = client
                    .get(format!("http://{}/v2/{name}/manifests/{platform_tag}", self.host))
                    .header("accept", "application/vnd.oci.image.manifest.v1+json")
                    .send()
                    .unwrap();
                let digest = response.headers()["docker-content-digest"].to_str().unwrap().to_owned();
                let size = response.bytes().unwrap().len();
                json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
                       "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let put = client
            .put(format!("http://{}/v2/{name}/manifests/{tag}", self.host))
            .header("content-type", "application/vnd.oci.image.index.v1+json")
            .body(index.to_string())
            .send()
            .unwrap();
        assert!(put.status().is_success(), "{}", put.text().unwrap());
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
