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
    /// Push Docker's media types (schema 2 manifests, manifest lists, as most of Docker Hub
    /// still serves) instead of OCI's.
    pub docker_media_types: bool,
}

/// How a test registry lets clients in.
pub enum Access<'a> {
    Open,
    /// HTTP basic auth with this user and password (an htpasswd file made by Debian's htpasswd).
    Password(&'a str, &'a str),
    /// Docker's token flow, as Docker Hub, GHCR, Quay and public ECR do: `401` with a
    /// `Bearer realm=...` challenge, tokens from `issuer`.
    Token(&'a TokenIssuer),
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        Registry::start_with(dir, None)
    }

    /// A registry that requires `user` / `password` when `login` is given.
    pub fn start_with(dir: &Path, login: Option<(&str, &str)>) -> Registry {
        match login {
            Some((user, password)) => Registry::start_as(dir, Access::Password(user, password)),
            None => Registry::start_as(dir, Access::Open),
        }
    }

    pub fn start_as(dir: &Path, access: Access) -> Registry {
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
        let mut login = None;
        match access {
            Access::Open => {}
            Access::Password(user, password) => {
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
                login = Some((user, password));
            }
            Access::Token(issuer) => text.push_str(&format!(
                "auth:\n  token:\n    realm: {}/token\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {}\n",
                issuer.url,
                issuer.cert_pem.display()
            )),
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
            docker_media_types: false,
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
        let mut copy = vec!["copy", "--quiet", "--dest-tls-verify=false"];
        if self.docker_media_types {
            copy.extend(["--format", "v2s2"]);
        }
        copy.extend([source.as_str(), destination.as_str()]);
        if let Some(credentials) = &self.credentials {
            copy.extend(["--dest-creds", credentials]);
        }
        run("skopeo", &copy);
    }

    /// The media types of (a manifest, an index) this registry is given.
    fn media_types(&self) -> (&'static str, &'static str) {
        if self.docker_media_types {
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
            )
        } else {
            (
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
            )
        }
    }

    /// Tags `name:from` as `name:to` too (the same manifest, put under another tag).
    pub fn tag(&self, name: &str, from: &str, to: &str) {
        let client = reqwest::blocking::Client::new();
        let (media_type, _) = self.media_types();
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

    /// Puts an index (OCI's, or Docker's manifest list) `name:tag` over the given per-platform tags.
    pub fn push_index(&self, name: &str, tag: &str, platforms: &[(&str, &str)]) {
        let client = reqwest::blocking::Client::new();
        let (manifest_type, index_type) = self.media_types();
        let manifests: Vec<Value> = platforms
            .iter()
            .map(|(arch, platform_tag)| {
                let response = client
                    .get(format!(
                        "http://{}/v2/{name}/manifests/{platform_tag}",
                        self.host
                    ))
                    .header("accept", manifest_type)
                    .send()
                    .unwrap();
                let digest = response.headers()["docker-content-digest"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let size = response.bytes().unwrap().len();
                json!({"mediaType": manifest_type, "digest": digest, "size": size,
                       "platform": {"architecture": arch, "os": "linux"}})
            })
            .collect();
        let index = json!({"schemaVersion": 2, "mediaType": index_type, "manifests": manifests});
        let put = client
            .put(format!("http://{}/v2/{name}/manifests/{tag}", self.host))
            .header("content-type", index_type)
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

/// The `service` and `issuer` a token-flow registry and its issuer agree on.
const SERVICE: &str = "palisade-test-registry";
const ISSUER: &str = "palisade-test-issuer";

/// A token server for Docker's token flow, granting anyone what the scope asks (a public
/// registry: anonymous pulls, and pushes for the test's own set-up). Tokens are JWTs signed RS256
/// with a self-signed key made by `openssl`, the certificate in the `x5c` header, as
/// docker-registry's `rootcertbundle` expects. Records the scopes it was asked for.
pub struct TokenIssuer {
    pub url: String,
    cert_pem: std::path::PathBuf,
    pub scopes: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl TokenIssuer {
    pub fn start(dir: &Path) -> TokenIssuer {
        let (key, cert_pem, cert_der) = (
            dir.join("issuer.key"),
            dir.join("issuer.pem"),
            dir.join("issuer.der"),
        );
        let path = |p: &std::path::PathBuf| p.to_str().unwrap().to_owned();
        run(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=palisade-test-issuer",
                "-keyout",
                &path(&key),
                "-out",
                &path(&cert_pem),
            ],
        );
        run(
            "openssl",
            &[
                "x509",
                "-in",
                &path(&cert_pem),
                "-outform",
                "DER",
                "-out",
                &path(&cert_der),
            ],
        );
        use base64::Engine;
        let x5c =
            base64::engine::general_purpose::STANDARD.encode(std::fs::read(&cert_der).unwrap());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let scopes = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let recorded = scopes.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = answer(stream, &key, &x5c, &recorded);
            }
        });
        TokenIssuer {
            url,
            cert_pem,
            scopes,
        }
    }
}

/// Answers one `GET /token?service=...&scope=...` with a signed token.
fn answer(
    mut stream: std::net::TcpStream,
    key: &Path,
    x5c: &str,
    scopes: &std::sync::Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use base64::Engine;
    use std::io::{BufRead, Write};
    let mut request_line = String::new();
    std::io::BufReader::new(&stream).read_line(&mut request_line)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let url = reqwest::Url::parse(&format!("http://issuer{target}")).unwrap();
    let mut access = Vec::new();
    for (name, value) in url.query_pairs() {
        if name == "scope" {
            scopes.lock().unwrap().push(value.to_string());
            // repository:NAME:ACTION[,ACTION]
            let mut parts = value.splitn(3, ':');
            let (kind, name, actions) = (parts.next(), parts.next(), parts.next());
            if let (Some(kind), Some(name), Some(actions)) = (kind, name, actions) {
                access.push(json!({"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}));
            }
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = json!({"typ": "JWT", "alg": "RS256", "x5c": [x5c]});
    let claims = json!({"iss": ISSUER, "sub": "", "aud": SERVICE, "exp": now + 300, "nbf": now - 10,
                        "iat": now, "jti": format!("{now}-{}", access.len()), "access": access});
    let signing_input = format!(
        "{}.{}",
        url_safe.encode(header.to_string()),
        url_safe.encode(claims.to_string())
    );
    let mut openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-sign"])
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(signing_input.as_bytes())?;
    let signature = openssl.wait_with_output()?.stdout;
    let token = format!("{signing_input}.{}", url_safe.encode(signature));
    let body = json!({"token": token, "expires_in": 300}).to_string();
    write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
