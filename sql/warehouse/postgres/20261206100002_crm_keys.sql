-- The contract's CRM keys of each customer (an email, an external CRM id) as a JSON object of
-- text values, for CRM imports that match on them (crm_keys::json ->> 'email'). NULL when the
-- contract names none.
ALTER TABLE risk_scores ADD COLUMN crm_keys TEXT;

-- A view's * was expanded when it was made: both views are replaced in place with the new
-- column at the end (the same columns before it, so grants to the CRM's role stay).
CREATE OR REPLACE VIEW risk_scores_served AS
    SELECT * FROM risk_scores WHERE role = 'canary'
    UNION ALL
    SELECT * FROM risk_scores r WHERE r.role = 'champion' AND NOT EXISTS (
        SELECT 1 FROM risk_scores c
        WHERE c.score_date = r.score_date AND c.model = r.model AND c.role = 'canary'
          AND c.customer_id = r.customer_id);

CREATE OR REPLACE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores_served WHERE score_date =
        (SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1);
