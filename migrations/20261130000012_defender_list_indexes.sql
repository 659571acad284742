-- The Defenders table's orders, one index each, written exactly as the list query orders (SQLite
-- uses an index on expressions only for the same expressions): its first page at 50,000
-- defenders is an index walk of 50 rows instead of a sort of all of them. And the counts the
-- rail and the page show (connected, protected families) read from an index alone. Sorting by
-- last seen alone has no index of its own: every heartbeat moves last_seen, and each index
-- holding it is written again (the default order's already is); that sort reads the table.
CREATE INDEX defenders_order_status ON defenders ((disconnected_at IS NOT NULL), last_seen DESC, id DESC);
CREATE INDEX defenders_order_connected_since ON defenders ((disconnected_at IS NOT NULL), connected_since, id);
CREATE INDEX defenders_order_family ON defenders (family, CAST(revision AS INTEGER) DESC, id DESC);
CREATE INDEX defenders_order_cluster ON defenders (cluster, family, id DESC);
CREATE INDEX defenders_order_processes ON defenders (process_count DESC, id DESC);
CREATE INDEX defenders_connected_families ON defenders (disconnected_at, family);
