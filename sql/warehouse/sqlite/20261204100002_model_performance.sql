-- How the scores of a night performed: estimated that night from the calibrated probabilities
-- (confidence-based performance estimation) and realised once the labels land a horizon later,
-- side by side per score date, model, role and metric (roc_auc, churn_rate, precision_<tier>,
-- recall_<tier>, expected_calibration_error).
CREATE TABLE model_performance (
    score_date    TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    model_version INTEGER NOT NULL,
    metric        TEXT    NOT NULL,
    estimated     REAL,
    realised      REAL,
    estimated_at  INTEGER,
    realised_at   INTEGER,
    PRIMARY KEY (score_date, model, role, metric)
);
