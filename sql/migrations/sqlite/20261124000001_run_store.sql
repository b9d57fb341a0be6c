-- The run store: DAG runs, their task instances, every attempt, and the scheduler's watermarks.
-- Times are milliseconds since the Unix epoch (UTC).

CREATE TABLE dag_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    dag          TEXT    NOT NULL,
    logical_date TEXT    NOT NULL,
    state        TEXT    NOT NULL,
    run_trigger  TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    started_at   INTEGER,
    ended_at     INTEGER,
    -- The backstop against double runs: one run per DAG and logical date, whoever asks.
    UNIQUE (dag, logical_date)
);

CREATE TABLE task_instances (
    run_id      INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
    task        TEXT    NOT NULL,
    state       TEXT    NOT NULL,
    -- Attempts made so far; the next attempt is allowed while try_number < max_tries.
    try_number  INTEGER NOT NULL DEFAULT 0,
    max_tries   INTEGER NOT NULL,
    next_try_at INTEGER,
    -- The process that claimed the running attempt, and until when its claim holds without a heartbeat.
    owner       TEXT,
    lease_until INTEGER,
    output      TEXT,
    error       TEXT,
    started_at  INTEGER,
    ended_at    INTEGER,
    PRIMARY KEY (run_id, task)
);

CREATE TABLE task_attempts (
    run_id     INTEGER NOT NULL REFERENCES dag_runs (id) ON DELETE CASCADE,
    task       TEXT    NOT NULL,
    attempt    INTEGER NOT NULL,
    owner      TEXT    NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at   INTEGER,
    outcome    TEXT    NOT NULL,
    error      TEXT,
    log        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (run_id, task, attempt)
);

CREATE TABLE scheduler_watermarks (
    dag      TEXT    PRIMARY KEY,
    fired_at INTEGER NOT NULL
);

CREATE INDEX dag_runs_by_dag ON dag_runs (dag, logical_date);
