//! What the template modules' unit tests share: options, and a template with many resources.

use crate::protect::ProtectOptions;
use crate::TokenSource;

pub(super) fn options() -> ProtectOptions {
    ProtectOptions {
        console_url: Some("https://palisade.example".into()),
        token: Some(TokenSource::Secret(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:palisade".into(),
        )),
        ..ProtectOptions::default()
    }
}

/// `tests/templates/two-tasks-firelens.yaml` with its `ApiTask` (whose `api` container runs
/// an image known only by parameter, so its argv is missing) repeated `copies` times.
pub(super) fn api_tasks(copies: usize) -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/templates");
    let text = std::fs::read_to_string(dir.join("two-tasks-firelens.yaml")).unwrap();
    let start = text.find("  ApiTask:\n").unwrap();
    let end = text.find("  WorkerTask:\n").unwrap();
    let copies: String = (0..copies)
        .map(|copy| text[start..end].replace("ApiTask:", &format!("ApiTask{copy}:")))
        .collect();
    format!("{}{copies}{}", &text[..start], &text[end..])
}
