-- Every attempt to register a generation as an ECS revision, listed on the Revisions page.
CREATE TABLE registrations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- RFC 3339, UTC.
    created_at TEXT NOT NULL,
    generation_id INTEGER REFERENCES generations (id),
    -- One registration per generation: a double submit finds this row instead of registering twice.
    idempotency_key TEXT NOT NULL UNIQUE,
    registered_by TEXT NOT NULL,
    family TEXT NOT NULL,
    -- SHA-256 (hex) of what the user pasted and of the JSON sent to ECS.
    input_sha256 TEXT NOT NULL,
    output_sha256 TEXT NOT NULL,
    -- pending, registered or failed.
    status TEXT NOT NULL,
    task_definition_arn TEXT,
    revision INTEGER,
    region TEXT,
    error TEXT
);

CREATE INDEX registrations_newest_first ON registrations (created_at DESC, id DESC);

-- Console settings changed in the Settings page (AWS region, profile, endpoint...).
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
