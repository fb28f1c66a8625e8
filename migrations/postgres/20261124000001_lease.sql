-- On PostgreSQL the run lease is an advisory lock held by a dedicated session (see
-- src/audit/lease.rs); it needs no table.
-- The daemon's schedule: per policy, the latest scheduled instant already accounted for, so a
-- restarted daemon catches a missed run up once, and two daemons do not run it twice.
CREATE TABLE lethe_schedule (
    policy     TEXT PRIMARY KEY,
    last_fire  TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
