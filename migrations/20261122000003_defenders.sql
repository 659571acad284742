-- Defender tokens: one family each, so a leaked task definition only exposes its own family.
-- Only the SHA-256 of a token is kept (tokens are 256 random bits: no salt or slow hash needed).
CREATE TABLE defender_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    family TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    -- Unix milliseconds.
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    label TEXT NOT NULL DEFAULT ''
);

-- One row per task (a defender is the sidecar of one task). Times are Unix milliseconds.
CREATE TABLE defenders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_arn TEXT NOT NULL UNIQUE,
    token_id INTEGER REFERENCES defender_tokens (id) ON DELETE SET NULL,
    cluster TEXT NOT NULL,
    family TEXT NOT NULL,
    revision TEXT NOT NULL,
    availability_zone TEXT NOT NULL,
    launch_type TEXT NOT NULL,
    -- JSON array of {name, image, docker_id}.
    containers TEXT NOT NULL,
    version TEXT NOT NULL,
    mode TEXT NOT NULL,
    -- The defender process (random per start) and the last event sequence number stored of it.
    instance TEXT NOT NULL,
    last_seq INTEGER NOT NULL DEFAULT 0,
    -- Which connection is current, so the end of a superseded one does not mark it disconnected.
    connection TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    connected_since INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    -- NULL while connected.
    disconnected_at INTEGER,
    process_count INTEGER NOT NULL DEFAULT 0,
    dropped_events INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX defenders_by_status ON defenders (disconnected_at, last_seen);

-- What defenders reported, newest kept per defender (older ones are trimmed).
CREATE TABLE defender_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    defender_id INTEGER NOT NULL REFERENCES defenders (id) ON DELETE CASCADE,
    instance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at INTEGER NOT NULL,
    -- process_started, process_exited, workload_started, workload_exited.
    kind TEXT NOT NULL,
    pid INTEGER,
    container TEXT,
    -- The event as the defender sent it (JSON).
    detail TEXT NOT NULL,
    UNIQUE (defender_id, instance, seq)
);

CREATE INDEX defender_events_timeline ON defender_events (defender_id, id DESC);
