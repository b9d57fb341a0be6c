-- The outbox: every report and alert email, queued in the run store (a failure alert in the same
-- transaction as the run's outcome) and delivered with retries. `dedup_key` makes the same message
-- for the same DAG, date and cause queue once.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedup_key       TEXT    NOT NULL UNIQUE,
    dag             TEXT    NOT NULL,
    logical_date    TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    envelope_from   TEXT    NOT NULL,
    -- Recipients, one per line.
    envelope_to     TEXT    NOT NULL,
    message         BLOB    NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- Not tried before this time (the backoff after a failed delivery).
    next_attempt_at INTEGER NOT NULL,
    -- A process delivering the message holds it until this time; nobody else sends it meanwhile.
    claimed_until   INTEGER,
    sent_at         INTEGER,
    sent_via        TEXT,
    last_error      TEXT
);

CREATE INDEX outbox_unsent ON outbox (next_attempt_at) WHERE sent_at IS NULL;
