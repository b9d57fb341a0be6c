-- Canary in batch: for a stable share of customers (a hash of the key and a salt) the CRM is
-- shown a challenger's score instead of the champion's. The champion's rows stay complete (role
-- 'champion', every customer); the challenger's rows for the canary's customers are stored with
-- role 'canary'. `risk_scores_served` is what the CRM was shown for every score date: the canary
-- rows, and the champion's rows of the customers without one. `risk_scores_latest` serves it for
-- the published date; its `role` column names each row's arm and `model_version` its version.
CREATE VIEW risk_scores_served AS
    SELECT * FROM risk_scores WHERE role = 'canary'
    UNION ALL
    SELECT * FROM risk_scores r WHERE r.role = 'champion' AND NOT EXISTS (
        SELECT 1 FROM risk_scores c
        WHERE c.score_date = r.score_date AND c.model = r.model AND c.role = 'canary'
          AND c.customer_id = r.customer_id);

DROP VIEW risk_scores_latest;
CREATE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores_served WHERE score_date =
        (SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1);

-- What people decided about a canary: `rolled_back` (its rows left the CRM view; it is not
-- served again) or `promoted` (it became champion on its realised performance).
CREATE TABLE canary_decisions (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    model         TEXT    NOT NULL,
    model_version INTEGER NOT NULL,
    decision      TEXT    NOT NULL,
    decided_at    INTEGER NOT NULL,
    note          TEXT    NOT NULL
);
