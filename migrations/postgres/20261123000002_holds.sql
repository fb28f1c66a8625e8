-- Runtime legal holds. Both tables are append-only: releasing a hold adds a release row.
CREATE TABLE lethe_holds (
    id         BIGSERIAL PRIMARY KEY,
    store      TEXT NOT NULL,
    table_name TEXT NOT NULL,
    selector   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    until      TEXT NULL
);
CREATE TABLE lethe_hold_releases (
    hold_id     BIGINT PRIMARY KEY REFERENCES lethe_holds (id),
    released_by TEXT NOT NULL,
    released_at TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE TRIGGER lethe_holds_no_change BEFORE UPDATE OR DELETE ON lethe_holds
    FOR EACH ROW EXECUTE FUNCTION lethe_audit_append_only();
CREATE TRIGGER lethe_holds_no_truncate BEFORE TRUNCATE ON lethe_holds
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_audit_append_only();
CREATE TRIGGER lethe_hold_releases_no_change BEFORE UPDATE OR DELETE ON lethe_hold_releases
    FOR EACH ROW EXECUTE FUNCTION lethe_audit_append_only();
CREATE TRIGGER lethe_hold_releases_no_truncate BEFORE TRUNCATE ON lethe_hold_releases
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_audit_append_only();
