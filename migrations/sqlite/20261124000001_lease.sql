-- One instance at a time: the run lease. A holder renews its rows while it works; rows whose
-- expiry has passed belong to a holder that died and are taken over.
-- mode: `exclusive` (a whole run) or `shared:N` (one of N shards; shards of one N share).
CREATE TABLE lethe_lease (
    name        TEXT NOT NULL,
    holder      TEXT NOT NULL,
    -- the holder's machine boot and process namespace: a dead holder is only recognised from
    -- the same boot and namespace, where its process id means the same process
    machine     TEXT NOT NULL,
    mode        TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (name, holder)
);
-- The daemon's schedule: per policy, the latest scheduled instant already accounted for, so a
-- restarted daemon catches a missed run up once, and two daemons do not run it twice.
CREATE TABLE lethe_schedule (
    policy     TEXT PRIMARY KEY,
    last_fire  TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
