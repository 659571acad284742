//! Image references as Docker reads them (`nginx`, `ghcr.io/o/app:1`, `host:5000/a/b@sha256:...`):
//! registry, repository, tag and digest, with Docker Hub's defaults, and nothing that could make a
//! request path or host out of place (no `..`, no spaces, no query).

/// One image reference, split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// `host[:port]` as written, or `docker.io`.
    pub registry: String,
    /// `library/nginx`, `o/app`.
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>` or `sha512:<128 hex>`.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `image`, or says what is wrong with it.
    pub fn parse(image: &str) -> Result<ImageRef, String> {
        if image.is_empty() || image.len() > 4096 {
            return Err("an image reference is 1 to 4,096 characters".into());
        }
        if let Some(bad) = image
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "._-/:@[]".contains(*c)))
        {
            return Err(format!("`{bad}` cannot appear in an image reference"));
        }
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) => (name, Some(check_digest(digest)?)),
            None => (image, None),
        };
        let (name, tag) = match name.rfind(':') {
            Some(colon) if !name[colon..].contains('/') => {
                let tag = &name[colon + 1..];
                check_tag(tag)?;
                (&name[..colon], Some(tag.to_owned()))
            }
            _ => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_owned(), rest.to_owned())
            }
            _ if name.contains('/') => ("docker.io".to_owned(), name.to_owned()),
            _ => ("docker.io".to_owned(), format!("library/{name}")),
        };
        check_registry(&registry)?;
        if repository.len() > 255 {
            return Err("the repository name is longer than 255 characters".into());
        }
        for component in repository.split('/') {
            check_component(component)?;
        }
        Ok(ImageRef {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Where requests go: Docker Hub's API host for `docker.io`, else the registry as written.
    pub fn api_host(&self) -> &str {
        if self.registry == "docker.io" {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }

    /// The names a registry's settings may be saved under for this image (Docker Hub has three).
    pub fn settings_names(&self) -> Vec<&str> {
        if self.registry == "docker.io" {
            vec!["docker.io", "index.docker.io", "registry-1.docker.io"]
        } else {
            vec![self.registry.as_str()]
        }
    }

    /// What the manifest request names: the digest when pinned, else the tag (`latest` by default).
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

fn check_digest(digest: &str) -> Result<String, String> {
    let valid = match digest.split_once(':') {
        Some(("sha256", hex)) => hex.len() == 64,
        Some(("sha512", hex)) => hex.len() == 128,
        _ => false,
    } && digest
        .split_once(':')
        .is_some_and(|(_, hex)| hex.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')));
    if valid {
        Ok(digest.to_owned())
    } else {
        Err(format!(
            "`{digest}` is not a digest like sha256:<64 lowercase hex digits>"
        ))
    }
}

fn check_tag(tag: &str) -> Result<(), String> {
    let valid = (1..=128).contains(&tag.len())
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{tag}` is not a tag (letters, digits, _ . -; at most 128; not starting with . or -)"
        ))
    }
}

fn check_registry(registry: &str) -> Result<(), String> {
    let refuse = || {
        Err(format!(
            "`{registry}` is not a registry host like registry.example.com:5000"
        ))
    };
    let (host_ok, port) = match registry.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((inner, after)) => (
                inner.parse::<std::net::Ipv6Addr>().is_ok(),
                match after {
                    "" => None,
                    _ => match after.strip_prefix(':') {
                        Some(port) => Some(port),
                        None => return refuse(),
                    },
                },
            ),
            None => return refuse(),
        },
        None => {
            let (host, port) = match registry.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (registry, None),
            };
            let label_ok = |label: &str| {
                !label.is_empty()
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            };
            (host.split('.').all(label_ok), port)
        }
    };
    let port_ok = port.is_none_or(|port| port.parse::<u16>().is_ok_and(|p| p > 0));
    if host_ok && port_ok {
        Ok(())
    } else {
        refuse()
    }
}

/// A repository path component: lowercase letters and digits, separated by `.`, `_`, `__` or
/// dashes, starting and ending with a letter or digit.
fn check_component(component: &str) -> Result<(), String> {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let valid = component.starts_with(alnum)
        && component.ends_with(alnum)
        && component.chars().all(|c| alnum(c) || "._-".contains(c))
        && !component.contains("..")
        && !component.contains("._")
        && !component.contains("_.")
        && !component.contains("___");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "`{component}` is not a repository name part (lowercase letters and digits, separated by . _ or -)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(image: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageRef::parse(image).unwrap();
        (r.registry, r.repository, r.tag, r.digest)
    }

    #[test]
    fn references_split_as_docker_splits_them() {
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            split("nginx"),
            ("docker.io".into(), "library/nginx".into(), None, None)
        );
        assert_eq!(
            split("bitnami/redis:7.2"),
            (
                "docker.io".into(),
                "bitnami/redis".into(),
                Some("7.2".into()),
                None
            )
        );
        assert_eq!(
            split("localhost:5000/team/app:v1"),
            (
                "localhost:5000".into(),
                "team/app".into(),
                Some("v1".into()),
                None
            )
        );
        assert_eq!(
            split(&format!("ghcr.io/o/app:1@{digest}")),
            (
                "ghcr.io".into(),
                "o/app".into(),
                Some("1".into()),
                Some(digest.clone())
            )
        );
        assert_eq!(
            split("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app"),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com".into(),
                "team/app".into(),
                None,
                None
            )
        );
        assert_eq!(split("[::1]:5000/a:b").0, "[::1]:5000");
        assert_eq!(
            ImageRef::parse("nginx").unwrap().api_host(),
            "registry-1.docker.io"
        );
        assert_eq!(
            ImageRef::parse("nginx").unwrap().manifest_reference(),
            "latest"
        );
    }

    #[test]
    fn nothing_that_could_move_a_request_parses() {
        for bad in [
            "",
            "Nginx",
            "a/../b",
            "host:5000/a/../../v2",
            "host/a b",
            "host/a?x=1",
            "host/a#f",
            "app:",
            "app:-x",
            "app@sha256:short",
            "app@md5:0123",
            "user@host/app",
            "host:99999/app",
            "-host.example/app",
            "host.example/.app",
            "a//b",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad:?} parsed");
        }
    }
}
