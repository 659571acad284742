-- A defender is a (family, task ARN), not a task ARN alone: a token of another family naming a
-- task ARN gets a row of its own family instead of taking over, or locking out, the real
-- defender (which used to be refused when a forger named its task first). Each row also keeps
-- the bytes of its stored events, so a family's history can be bounded without scanning it.
--
-- SQLite cannot drop a column's UNIQUE, so both tables are rebuilt, inside the migration's
-- transaction (where foreign keys cannot be turned off): the old tables are renamed first (the
-- events' reference follows the rename), the new ones filled from them with the same ids, the
-- old events dropped before the old defenders (so no cascade ever reaches an event).
DROP INDEX defenders_by_status;
DROP INDEX defenders_order_status;
DROP INDEX defenders_order_connected_since;
DROP INDEX defenders_order_family;
DROP INDEX defenders_order_cluster;
DROP INDEX defenders_order_processes;
DROP INDEX defenders_connected_families;
DROP INDEX defender_events_timeline;
ALTER TABLE defenders RENAME TO defenders_old;
ALTER TABLE defender_events RENAME TO defender_events_old;

CREATE TABLE defenders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_arn TEXT NOT NULL,
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
    dropped_events INTEGER NOT NULL DEFAULT 0,
    -- The bytes of its stored events' JSON (kept by the writer as it stores and trims).
    event_bytes INTEGER NOT NULL DEFAULT 0,
    UNIQUE (family, task_arn)
);
INSERT INTO defenders (id, task_arn, token_id, cluster, family, revision, availability_zone, launch_type,
    containers, version, mode, instance, last_seq, connection, first_seen, connected_since, last_seen,
    disconnected_at, process_count, dropped_events, event_bytes)
SELECT id, task_arn, token_id, cluster, family, revision, availability_zone, launch_type,
    containers, version, mode, instance, last_seq, connection, first_seen, connected_since, last_seen,
    disconnected_at, process_count, dropped_events,
    COALESCE((SELECT SUM(length(CAST(detail AS BLOB))) FROM defender_events_old
              WHERE defender_events_old.defender_id = defenders_old.id), 0)
FROM defenders_old;

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
INSERT INTO defender_events (id, defender_id, instance, seq, at, kind, pid, container, detail)
SELECT id, defender_id, instance, seq, at, kind, pid, container, detail FROM defender_events_old;

-- New ids go on after the highest ever given, as before (the charts count events by id).
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'defenders_old'), 0))
    WHERE name = 'defenders';
UPDATE sqlite_sequence SET seq = MAX(seq, COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'defender_events_old'), 0))
    WHERE name = 'defender_events';

DROP TABLE defender_events_old;
DROP TABLE defenders_old;

CREATE INDEX defender_events_timeline ON defender_events (defender_id, id DESC);
CREATE INDEX defenders_by_status ON defenders (disconnected_at, last_seen);
CREATE INDEX defenders_order_status ON defenders ((disconnected_at IS NOT NULL), last_seen DESC, id DESC);
CREATE INDEX defenders_order_connected_since ON defenders ((disconnected_at IS NOT NULL), connected_since, id);
CREATE INDEX defenders_order_family ON defenders (family, CAST(revision AS INTEGER) DESC, id DESC);
CREATE INDEX defenders_order_cluster ON defenders (cluster, family, id DESC);
CREATE INDEX defenders_order_processes ON defenders (process_count DESC, id DESC);
CREATE INDEX defenders_connected_families ON defenders (disconnected_at, family);
-- The rows a token made (its cap on distinct tasks) and a family's oldest disconnected ones.
CREATE INDEX defenders_by_token ON defenders (token_id, disconnected_at);
CREATE INDEX defenders_family_disconnected ON defenders (family, disconnected_at);
