-- Runtime defense, per family: the policy its defenders are sent, the model learned from their
-- events, and their alerts grouped into incidents. One policy row and one model row a family.

-- A family's settings and the revision its defenders judge with.
CREATE TABLE family_policies (
    family TEXT PRIMARY KEY,
    -- Grows with every change of the settings or of the model (what defenders are sent).
    revision INTEGER NOT NULL DEFAULT 1,
    -- off, alert or prevent.
    mode TEXT NOT NULL DEFAULT 'alert',
    -- JSON arrays, as palisade-policy writes them.
    disabled_rules TEXT NOT NULL DEFAULT '[]',
    allow TEXT NOT NULL DEFAULT '[]',
    deny TEXT NOT NULL DEFAULT '[]',
    allowed_ports TEXT NOT NULL DEFAULT '[]',
    -- How long the model learns from the family's first defender connection (or a relearn).
    learning_window_ms INTEGER NOT NULL DEFAULT 3600000,
    updated_at INTEGER NOT NULL,
    updated_by TEXT NOT NULL DEFAULT ''
);

-- A family's model: learned so far (saved every minute while learning) or in force.
CREATE TABLE family_models (
    family TEXT PRIMARY KEY REFERENCES family_policies (family) ON DELETE CASCADE,
    -- JSON palisade_policy::Model.
    model TEXT NOT NULL DEFAULT '{}',
    -- NULL until a defender of the family first connected.
    learning_started_at INTEGER,
    learning_ends_at INTEGER,
    -- NULL while learning; when the window ended and the model went out.
    activated_at INTEGER,
    -- The defenders (ids, JSON, at most 10,000) the model learned from, and how many in all.
    tasks TEXT NOT NULL DEFAULT '[]',
    task_count INTEGER NOT NULL DEFAULT 0,
    saved_at INTEGER NOT NULL
);

-- Alerts of one (family, rule, container) within 24 hours of the first, until resolved.
CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    family TEXT NOT NULL,
    rule TEXT NOT NULL,
    -- '' when the alert named no container of its task.
    container TEXT NOT NULL DEFAULT '',
    -- The highest of its alerts' (low, medium, high, critical; the rank orders them).
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,
    -- open, acknowledged or resolved.
    state TEXT NOT NULL DEFAULT 'open',
    alert_count INTEGER NOT NULL DEFAULT 0,
    -- Alerts kept in incident_alerts (the first 100).
    stored_alerts INTEGER NOT NULL DEFAULT 0,
    -- Tasks listed in incident_tasks (the first 100), and alerts from tasks past them.
    task_count INTEGER NOT NULL DEFAULT 0,
    unlisted_task_alerts INTEGER NOT NULL DEFAULT 0,
    -- When the console received its first and last alert.
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    -- The last alert's message, for lists.
    summary TEXT NOT NULL DEFAULT '',
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    resolved_by TEXT,
    resolved_at INTEGER
);
CREATE INDEX incidents_by_key ON incidents (family, rule, container, first_seen DESC);
CREATE INDEX incidents_by_last_seen ON incidents (last_seen DESC, id DESC);
CREATE INDEX incidents_by_state ON incidents (state, family);

-- The tasks an incident's alerts came from (the first 100).
CREATE TABLE incident_tasks (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    task_arn TEXT NOT NULL,
    -- No reference: the defender's row may be swept away, the incident keeps the task.
    defender_id INTEGER NOT NULL,
    alerts INTEGER NOT NULL DEFAULT 0,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (incident_id, task_arn)
);

-- An incident's alerts (the first 100), each as its defender reported it.
CREATE TABLE incident_alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    defender_id INTEGER NOT NULL,
    instance TEXT NOT NULL,
    -- The alert event's sequence number on its defender's timeline (0: raised by the console).
    seq INTEGER NOT NULL,
    task_arn TEXT NOT NULL,
    -- The defender's clock, and the console's.
    at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    severity TEXT NOT NULL,
    message TEXT NOT NULL,
    -- JSON palisade_protocol::AlertReport ('{}' for the console's own alerts).
    report TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_alerts_by_incident ON incident_alerts (incident_id, id);
