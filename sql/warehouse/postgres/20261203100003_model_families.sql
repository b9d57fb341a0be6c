-- Model families and the model's identity in the keys. A run fits several families; each
-- candidate's metrics are kept per family, the gate records the family it judged, and the keys of
-- the risk table and the drift reports include the model (and the risk table the role), so two
-- models' rows for one date never delete each other. Each customer's top three reasons (the
-- contract features raising the risk most, with their contributions in log-odds) are kept beside
-- the score, and what a CRM import needs beside it (a 0-100 score, the previous tier and whether
-- it changed, when it was scored). Every row written before is a logistic regression's and the
-- champion's.

ALTER TABLE risk_scores
    -- champion (what the CRM sees) or shadow (scored beside it, never in the view)
    ADD COLUMN role TEXT NOT NULL DEFAULT 'champion',
    ADD COLUMN reason_1 TEXT,
    ADD COLUMN reason_1_contribution DOUBLE PRECISION,
    ADD COLUMN reason_2 TEXT,
    ADD COLUMN reason_2_contribution DOUBLE PRECISION,
    ADD COLUMN reason_3 TEXT,
    ADD COLUMN reason_3_contribution DOUBLE PRECISION,
    -- For the CRM: the probability as a 0-100 score, the tier of the day published before (NULL
    -- for a customer it did not have), 1 when the tier differs from it, when the row was scored.
    ADD COLUMN churn_score INTEGER,
    ADD COLUMN previous_tier TEXT,
    ADD COLUMN tier_changed INTEGER,
    ADD COLUMN scored_at TIMESTAMPTZ;
ALTER TABLE risk_scores DROP CONSTRAINT risk_scores_pkey,
    ADD PRIMARY KEY (score_date, model, role, customer_id);

-- Replaced in place (new columns at the end): grants to the CRM's role stay.
CREATE OR REPLACE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores WHERE role = 'champion' AND score_date =
        (SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1);

ALTER TABLE model_metrics ADD COLUMN family TEXT NOT NULL DEFAULT 'logistic_regression';
ALTER TABLE model_metrics DROP CONSTRAINT model_metrics_pkey,
    ADD PRIMARY KEY (dag, logical_date, model, role, family, metric);

ALTER TABLE gate_decisions ADD COLUMN family TEXT NOT NULL DEFAULT 'logistic_regression';

ALTER TABLE drift_reports DROP CONSTRAINT drift_reports_pkey,
    ADD PRIMARY KEY (dag, logical_date, model, feature);
