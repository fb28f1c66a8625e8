-- The audit trail: one append-only, hash-chained table of events.
CREATE TABLE lethe_audit (
    seq       BIGINT PRIMARY KEY,
    run_id    TEXT NOT NULL,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL UNIQUE
);
CREATE INDEX lethe_audit_run ON lethe_audit (run_id);
CREATE FUNCTION lethe_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only';
END;
$$;
CREATE TRIGGER lethe_audit_no_change BEFORE UPDATE OR DELETE ON lethe_audit
    FOR EACH ROW EXECUTE FUNCTION lethe_audit_append_only();
CREATE TRIGGER lethe_audit_no_truncate BEFORE TRUNCATE ON lethe_audit
    FOR EACH STATEMENT EXECUTE FUNCTION lethe_audit_append_only();
