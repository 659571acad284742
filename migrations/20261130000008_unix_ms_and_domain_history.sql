-- One time representation: `generations.created_at` and `registrations.created_at` become Unix
-- milliseconds like every other time (they were RFC 3339 text). And the generation history keeps
-- what the generator produced (warnings, container plans, entrypoints read from registries, notes,
-- the normalized input) instead of the JSON of the page that showed it (`response`).
-- Tables are changed in place (not rebuilt) because registrations reference generations.

DROP INDEX generations_newest_first;
ALTER TABLE generations RENAME COLUMN created_at TO created_at_rfc3339;
ALTER TABLE generations ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE generations
    SET created_at = CAST(ROUND((julianday(created_at_rfc3339) - 2440587.5) * 86400000) AS INTEGER);
ALTER TABLE generations DROP COLUMN created_at_rfc3339;
CREATE INDEX generations_newest_first ON generations (created_at DESC, id DESC);

-- describe_output, task_definition or container_definitions.
ALTER TABLE generations RENAME COLUMN input_form TO form;
-- normalize(input), pretty-printed: the left side of the diff. NULL for generations recorded
-- before this migration: it is computed again from `input` when one is reopened.
ALTER TABLE generations ADD COLUMN normalized TEXT;
-- JSON array of warnings ({"pointer"?, "message"}).
ALTER TABLE generations ADD COLUMN warnings TEXT NOT NULL DEFAULT '[]';
-- JSON array of the container plans (name, image, protect, reason, needs_image_argv, has_command).
ALTER TABLE generations ADD COLUMN containers TEXT NOT NULL DEFAULT '[]';
-- JSON array of the entrypoints read from image registries ({container, image, result}).
-- Generations recorded before this migration kept only the sentence shown, so theirs is empty.
ALTER TABLE generations ADD COLUMN resolutions TEXT NOT NULL DEFAULT '[]';
-- JSON array of what the console did besides generating (a token created, where it went).
-- Before this migration those notes were among the warnings, where they stay.
ALTER TABLE generations ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
UPDATE generations SET
    warnings = COALESCE(
        (SELECT json_group_array(json_object('message', value)) FROM json_each(response, '$.warnings')),
        '[]'),
    containers = COALESCE(json_extract(response, '$.containers'), '[]');
ALTER TABLE generations DROP COLUMN response;

DROP INDEX registrations_newest_first;
ALTER TABLE registrations RENAME COLUMN created_at TO created_at_rfc3339;
ALTER TABLE registrations ADD COLUMN created_at INTEGER NOT NULL DEFAULT 0;
UPDATE registrations
    SET created_at = CAST(ROUND((julianday(created_at_rfc3339) - 2440587.5) * 86400000) AS INTEGER);
ALTER TABLE registrations DROP COLUMN created_at_rfc3339;
CREATE INDEX registrations_newest_first ON registrations (created_at DESC, id DESC);
