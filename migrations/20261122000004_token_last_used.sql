-- When a defender last connected with the token (Unix milliseconds), shown in Settings.
ALTER TABLE defender_tokens ADD COLUMN last_used_at INTEGER;
