-- The warehouse: what the nightly stages leave for people and for the CRM import.
-- Dates are ISO `YYYY-MM-DD` text (they sort as dates and read the same on SQLite and PostgreSQL);
-- times are milliseconds since the Unix epoch (UTC). JSON documents are stored as text. Flags are
-- 0/1 integers: sqlx's Any driver cannot decode a SQLite BOOLEAN.

-- One row per run of the validate stage.
CREATE TABLE validation_reports (
    dag             TEXT    NOT NULL,
    logical_date    TEXT    NOT NULL,
    snapshot_key    TEXT    NOT NULL,
    row_count       BIGINT  NOT NULL,
    passed          BIGINT  NOT NULL,
    hard_violations BIGINT  NOT NULL,
    soft_violations BIGINT  NOT NULL,
    report          TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL,
    PRIMARY KEY (dag, logical_date)
);

-- The model registry: every registered version and its stage (candidate, champion, archived).
CREATE TABLE model_versions (
    model            TEXT    NOT NULL,
    version          BIGINT  NOT NULL,
    stage            TEXT    NOT NULL,
    artifact_prefix  TEXT    NOT NULL,
    card             TEXT    NOT NULL,
    dag              TEXT    NOT NULL,
    logical_date     TEXT    NOT NULL,
    created_at       BIGINT  NOT NULL,
    stage_changed_at BIGINT  NOT NULL,
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
    model_version BIGINT,
    metric        TEXT             NOT NULL,
    value         DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (dag, logical_date, model, role, metric)
);

-- The gate's decision and its reasons, per run.
CREATE TABLE gate_decisions (
    dag          TEXT    NOT NULL,
    logical_date TEXT    NOT NULL,
    model        TEXT    NOT NULL,
    passed       BIGINT  NOT NULL,
    reasons      TEXT    NOT NULL,
    policy       TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    PRIMARY KEY (dag, logical_date, model)
);

-- The risk table the CRM imports: one partition of rows per score date, swapped in at once.
CREATE TABLE risk_scores (
    score_date         TEXT             NOT NULL,
    customer_id        TEXT             NOT NULL,
    churn_probability  DOUBLE PRECISION NOT NULL,
    risk_tier          TEXT             NOT NULL,
    recommended_action TEXT             NOT NULL,
    model              TEXT             NOT NULL,
    model_version      BIGINT           NOT NULL,
    PRIMARY KEY (score_date, customer_id)
);

CREATE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores WHERE score_date = (SELECT MAX(score_date) FROM risk_scores);

-- One row per run and feature (and one for the score: kind = 'prediction').
CREATE TABLE drift_reports (
    dag              TEXT             NOT NULL,
    logical_date     TEXT             NOT NULL,
    model            TEXT             NOT NULL,
    model_version    BIGINT           NOT NULL,
    feature          TEXT             NOT NULL,
    kind             TEXT             NOT NULL,
    test             TEXT             NOT NULL,
    statistic        DOUBLE PRECISION NOT NULL,
    p_value          DOUBLE PRECISION NOT NULL,
    p_value_adjusted DOUBLE PRECISION NOT NULL,
    psi              DOUBLE PRECISION NOT NULL,
    effect_measure   TEXT             NOT NULL,
    effect_size      DOUBLE PRECISION NOT NULL,
    severity         TEXT             NOT NULL,
    unseen_share     DOUBLE PRECISION NOT NULL,
    reference_rows   BIGINT           NOT NULL,
    current_rows     BIGINT           NOT NULL,
    PRIMARY KEY (dag, logical_date, feature)
);
