-- The risk table's date typed for the CRM: `score_day` is `score_date` as a DATE. `score_date`
-- stays ISO text, which every query of churnflow binds (its database layer reads and binds text);
-- `score_day` is generated from it, so no load writes it and the two never disagree. (make_date of
-- the parts, not score_date::date: a generated column needs an immutable expression.)
ALTER TABLE risk_scores ADD COLUMN score_day DATE GENERATED ALWAYS AS (
    make_date(substr(score_date, 1, 4)::int, substr(score_date, 6, 2)::int,
              substr(score_date, 9, 2)::int)) STORED;

-- Both views replaced in place with the new column at the end (grants stay).
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
