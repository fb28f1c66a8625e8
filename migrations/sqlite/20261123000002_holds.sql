-- Runtime legal holds. Both tables are append-only: releasing a hold adds a release row.
CREATE TABLE lethe_holds (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    store      TEXT NOT NULL,
    table_name TEXT NOT NULL,
    selector   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    until      TEXT NULL
);
CREATE TABLE lethe_hold_releases (
    hold_id     INTEGER PRIMARY KEY REFERENCES lethe_holds (id),
    released_by TEXT NOT NULL,
    released_at TEXT NOT NULL,
    reason      TEXT NOT NULL
);
CREATE TRIGGER lethe_holds_no_update BEFORE UPDATE ON lethe_holds
BEGIN SELECT RAISE(ABORT, 'holds are append-only: release a hold instead'); END;
CREATE TRIGGER lethe_holds_no_delete BEFORE DELETE ON lethe_holds
BEGIN SELECT RAISE(ABORT, 'holds are append-only: release a hold instead'); END;
CREATE TRIGGER lethe_hold_releases_no_update BEFORE UPDATE ON lethe_hold_releases
BEGIN SELECT RAISE(ABORT, 'hold releases are append-only'); END;
CREATE TRIGGER lethe_hold_releases_no_delete BEFORE DELETE ON lethe_hold_releases
BEGIN SELECT RAISE(ABORT, 'hold releases are append-only'); END;
