//! Which names of keys and flags say their value is a secret.

/// Bytes a key's name is made of.
pub(super) fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')
}

/// Parts that name a secret by themselves.
const SECRET_PARTS: &[&str] = &[
    "pwd", "pw", "pass", "key", "auth", "private", "session", "cookie",
];
/// Words that make any part holding them name a secret (`pgpassword`, `apikey`, `x-auth-token`).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
    "apikey",
    "signature",
    "authorization",
    "accesskey",
    "privatekey",
];
/// Last parts that say where a secret is, or what shape it has, rather than what it is.
const NOT_THE_SECRET: &[&str] = &[
    "file",
    "files",
    "path",
    "dir",
    "directory",
    "ref",
    "arn",
    "url",
    "uri",
    "endpoint",
    "name",
    "header",
    "type",
    "mode",
    "length",
    "size",
    "count",
    "limit",
    "timeout",
    "ttl",
    "expiry",
    "algorithm",
    "format",
    "version",
    "enabled",
    "required",
];
/// First parts of switches and bounds (`--no-auth`, `--max-tokens`).
const SWITCHES: &[&str] = &[
    "no", "max", "min", "enable", "disable", "use", "skip", "require",
];

/// A name's parts, lowercased: split at anything but letters and digits, and where a small letter
/// is followed by a capital (`dbPassword`: `db`, `password`).
fn name_parts(name: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut previous_small = false;
    for c in name.chars() {
        if !c.is_ascii_alphanumeric() {
            if !part.is_empty() {
                parts.push(std::mem::take(&mut part));
            }
            previous_small = false;
            continue;
        }
        if c.is_ascii_uppercase() && previous_small && !part.is_empty() {
            parts.push(std::mem::take(&mut part));
        }
        previous_small = c.is_ascii_lowercase();
        part.push(c.to_ascii_lowercase());
    }
    if !part.is_empty() {
        parts.push(part);
    }
    parts
}

/// Whether a key or flag name says its value is a secret (see the module's rule).
pub(super) fn is_secret_name(name: &str) -> bool {
    let parts = name_parts(name);
    let (Some(first), Some(last)) = (parts.first(), parts.last()) else {
        return false;
    };
    if SWITCHES.contains(&first.as_str())
        || (parts.len() > 1 && NOT_THE_SECRET.contains(&last.as_str()))
    {
        return false;
    }
    parts.iter().any(|part| {
        SECRET_PARTS.contains(&part.as_str()) || SECRET_WORDS.iter().any(|word| part.contains(word))
    })
}

/// `Authorization`, `auth`: a key whose value may start with a scheme word (`Basic`).
pub(super) fn names_authorization(name: &str) -> bool {
    name_parts(name)
        .iter()
        .any(|part| part == "auth" || part.contains("authorization"))
}

#[cfg(test)]
mod tests {
    use crate::redact::shown;

    #[test]
    fn values_of_secret_named_keys_and_flags_are_withheld() {
        for (text, expected) in [
            ("--password=hunter2", "--password=***"),
            (
                "--db-password hunter2 --port 80",
                "--db-password *** --port 80",
            ),
            (
                "-Dspring.datasource.password=hunter2",
                "-Dspring.datasource.password=***",
            ),
            ("PGPASSWORD=hunter2 psql", "PGPASSWORD=*** psql"),
            ("dbPassword: hunter2", "dbPassword: ***"),
            ("secret:hunter2", "secret:***"),
            (
                "--apiKey=abc --api_key abc --x-api-key abc",
                "--apiKey=*** --api_key *** --x-api-key ***",
            ),
            (
                r#"{"api_key":"abc 123","user":"app"}"#,
                r#"{"api_key":"***","user":"app"}"#,
            ),
            (
                r#"--config {"password": "hunter2"}"#,
                r#"--config {"password": "***"}"#,
            ),
            (
                "https://db/app?user=app&password=hunter2&ssl=true",
                "https://db/app?user=app&password=***&ssl=true",
            ),
            (
                "--session-id abc --cookie abc --auth abc",
                "--session-id *** --cookie *** --auth ***",
            ),
            (
                "--client-secret abc --signature abc --credentials abc",
                "--client-secret *** --signature *** --credentials ***",
            ),
            (
                "--password \"correct horse battery\" --port 80",
                "--password \"***\" --port 80",
            ),
            ("--password 'hunter2', next", "--password '***', next"),
        ] {
            assert_eq!(shown(text), expected, "{text}");
        }
    }
}
