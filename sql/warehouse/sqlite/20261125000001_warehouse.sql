-- The warehouse: what the nightly stages leave for people and for the CRM import.
-- Dates are ISO `YYYY-MM-DD` text (they sort as dates and read the same on SQLite and PostgreSQL);
-- times are milliseconds since the Unix epoch (UTC). JSON documents are stored as text. Flags are
-- 0/1 integers: sqlx's Any driver cannot decode a SQLite BOOLEAN.

-- One row per run of the validate stage.
CREATE TABLE validation_reports (
    dag             TEXT    NOT NULL,
    logical_date    TEXT    NOT NULL,
    snapshot_key    TEXT    NOT NULL,
    row_count       INTEGER NOT NULL,
    passed          INTEGER NOT NULL,
    hard_violations INTEGER NOT NULL,
    soft_violations INTEGER NOT NULL,
    report          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (dag, logical_date)
);

-- The model registry: every registered version and its stage (candidate, champion, archived).
CREATE TABLE model_versions (
    model            TEXT    NOT NULL,
    version          INTEGER NOT NULL,
    stage            TEXT    NOT NULL,
    artifact_prefix  TEXT    NOT NULL,
    card             TEXT    NOT NULL,
    dag              TEXT    NOT NULL,
    logical_date     TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    stage_changed_at INTEGER NOT NULL,
    PRIMARY KEY (model, version)
);
-- At most one champion per model, whoever writes.
CREATE UNIQUE INDEX model_versions_one_champion ON model_versions (model) WHERE stage = 'champion';

-- Metrics of the candidate and of the champion on the same validation rows, per run.
CREATE TABLE model_metrics (
    dag           TEXT             NOT NULL,
    logical_date  TEXT             NOT NULL,
    model         TEXT             NOT NULL,
    role          TEXT             NOT NULL,
    model_version INTEGER,
    metric        TEXT             NOT NULL,
    value         REAL             NOT NULL,
    PRIMARY KEY (dag, logical_date, model, role, metric)
);

-- The gate's decision and its reasons, per run.
CREATE TABLE gate_decisions (
    dag          TEXT    NOT NULL,
    logical_date TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    passed       INTEGER NOT NULL,
    reasons      TEXT    NOT NULL,
    policy       TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (dag, logical_date, model)
);

-- The risk table the CRM imports: one partition of rows per score date, swapped in at once.
CREATE TABLE risk_scores (
    score_date         TEXT             NOT NULL,
    customer_id        TEXT             NOT NULL,
    churn_probability  REAL             NOT NULL,
    risk_tier          TEXT             NOT NULL,
    recommended_action TEXT             NOT NULL,
    model              TEXT             NOT NULL,
    model_version      INTEGER          NOT NULL,
    PRIMARY KEY (score_date, customer_id)
);

CREATE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores WHERE score_date = (SELECT MAX(score_date) FROM risk_scores);

-- One row per run and feature (and one for the score: kind = 'prediction').
CREATE TABLE drift_reports (
    dag              TEXT             NOT NULL,
    logical_date     TEXT             NOT NULL,
    model            TEXT             NOT NULL,
    model_version    INTEGER          NOT NULL,
    feature          TEXT             NOT NULL,
    kind             TEXT             NOT NULL,
    test             TEXT             NOT NULL,
    statistic        REAL             NOT NULL,
    p_value          REAL             NOT NULL,
    p_value_adjusted REAL             NOT NULL,
    psi              REAL             NOT NULL,
    effect_measure   TEXT             NOT NULL,
    effect_size      REAL             NOT NULL,
    severity         TEXT             NOT NULL,
    unseen_share     REAL             NOT NULL,
    reference_rows   INTEGER          NOT NULL,
    current_rows     INTEGER          NOT NULL,
    PRIMARY KEY (dag, logical_date, feature)
);
