-- Every protected-task generation, newest first in the console's "Recent generations".
CREATE TABLE generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- RFC 3339, UTC.
    created_at TEXT NOT NULL,
    family TEXT,
    -- describe_output, task_definition or container_definitions.
    input_form TEXT NOT NULL,
    -- JSON array of the names of the containers that were wrapped.
    containers_protected TEXT NOT NULL,
    -- JSON array of the summary's sentences.
    summary TEXT NOT NULL,
    -- JSON of the options used, without any plain token.
    options TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT NOT NULL,
    -- JSON of everything the page showed (diff, summary, warnings), to reopen it as it was.
    response TEXT NOT NULL
);

CREATE INDEX generations_newest_first ON generations (created_at DESC, id DESC);
