-- The audit trail: one append-only, hash-chained table of events.
CREATE TABLE lethe_audit (
    seq       INTEGER PRIMARY KEY,
    run_id    TEXT NOT NULL,
    at        TEXT NOT NULL,
    kind      TEXT NOT NULL,
    payload   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL UNIQUE
);
CREATE INDEX lethe_audit_run ON lethe_audit (run_id);
CREATE TRIGGER lethe_audit_no_update BEFORE UPDATE ON lethe_audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER lethe_audit_no_delete BEFORE DELETE ON lethe_audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
