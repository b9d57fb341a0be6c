-- Model families and the model's identity in the keys. A run fits several families; each
-- candidate's metrics are kept per family, the gate records the family it judged, and the keys of
-- the risk table and the drift reports include the model (and the risk table the role), so two
-- models' rows for one date never delete each other. Each customer's top three reasons (the
-- contract features raising the risk most, with their contributions in log-odds) are kept beside
-- the score, and what a CRM import needs beside it (a 0-100 score, the previous tier and whether
-- it changed, when it was scored). Every row written before is a logistic regression's and the
-- champion's.
-- SQLite cannot change a primary key in place: the tables are rebuilt and their rows copied.

DROP VIEW risk_scores_latest;

CREATE TABLE risk_scores_keyed (
    score_date            TEXT    NOT NULL,
    customer_id           TEXT    NOT NULL,
    churn_probability     REAL    NOT NULL,
    risk_tier             TEXT    NOT NULL,
    recommended_action    TEXT    NOT NULL,
    model                 TEXT    NOT NULL,
    model_version         INTEGER NOT NULL,
    -- champion (what the CRM sees) or shadow (scored beside it, never in the view)
    role                  TEXT    NOT NULL DEFAULT 'champion',
    reason_1              TEXT,
    reason_1_contribution REAL,
    reason_2              TEXT,
    reason_2_contribution REAL,
    reason_3              TEXT,
    reason_3_contribution REAL,
    -- For the CRM: the probability as a 0-100 score, the tier of the day published before (NULL
    -- for a customer it did not have), 1 when the tier differs from it, when the row was scored
    -- (ISO 8601, UTC).
    churn_score           INTEGER,
    previous_tier         TEXT,
    tier_changed          INTEGER,
    scored_at             TEXT,
    PRIMARY KEY (score_date, model, role, customer_id)
);
INSERT INTO risk_scores_keyed (score_date, customer_id, churn_probability, risk_tier,
                               recommended_action, model, model_version)
    SELECT score_date, customer_id, churn_probability, risk_tier, recommended_action, model,
           model_version FROM risk_scores;
DROP TABLE risk_scores;
ALTER TABLE risk_scores_keyed RENAME TO risk_scores;

CREATE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores WHERE role = 'champion' AND score_date =
        (SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1);

CREATE TABLE model_metrics_keyed (
    dag           TEXT    NOT NULL,
    logical_date  TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    family        TEXT    NOT NULL DEFAULT 'logistic_regression',
    model_version INTEGER,
    metric        TEXT    NOT NULL,
    value         REAL    NOT NULL,
    PRIMARY KEY (dag, logical_date, model, role, family, metric)
);
INSERT INTO model_metrics_keyed (dag, logical_date, model, role, model_version, metric, value)
    SELECT dag, logical_date, model, role, model_version, metric, value FROM model_metrics;
DROP TABLE model_metrics;
ALTER TABLE model_metrics_keyed RENAME TO model_metrics;

ALTER TABLE gate_decisions ADD COLUMN family TEXT NOT NULL DEFAULT 'logistic_regression';

CREATE TABLE drift_reports_keyed (
    dag              TEXT    NOT NULL,
    logical_date     TEXT    NOT NULL,
    model            TEXT    NOT NULL,
    model_version    INTEGER NOT NULL,
    feature          TEXT    NOT NULL,
    kind             TEXT    NOT NULL,
    test             TEXT    NOT NULL,
    statistic        REAL    NOT NULL,
    p_value          REAL    NOT NULL,
    p_value_adjusted REAL    NOT NULL,
    psi              REAL    NOT NULL,
    effect_measure   TEXT    NOT NULL,
    effect_size      REAL    NOT NULL,
    severity         TEXT    NOT NULL,
    unseen_share     REAL    NOT NULL,
    reference_rows   INTEGER NOT NULL,
    current_rows     INTEGER NOT NULL,
    PRIMARY KEY (dag, logical_date, model, feature)
);
INSERT INTO drift_reports_keyed SELECT dag, logical_date, model, model_version, feature, kind,
    test, statistic, p_value, p_value_adjusted, psi, effect_measure, effect_size, severity,
    unseen_share, reference_rows, current_rows FROM drift_reports;
DROP TABLE drift_reports;
ALTER TABLE drift_reports_keyed RENAME TO drift_reports;
