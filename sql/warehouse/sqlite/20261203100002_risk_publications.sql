-- Which score date the CRM sees. `risk_scores_latest` followed MAX(score_date), so a run for a
-- future date took it over for good and a bad day was published like any other; it now follows
-- the newest publication: the publish stage's (by its policy) or a person's (`churnflow publish`).
CREATE TABLE risk_publications (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    score_date   TEXT    NOT NULL,
    published_at INTEGER NOT NULL,
    -- policy (the publish stage), manual (churnflow publish) or migration
    published_by TEXT    NOT NULL,
    note         TEXT    NOT NULL
);

-- What the CRM saw before publications began stays published, unless it was a future date (the
-- defect this fixes): then the newest date up to today.
INSERT INTO risk_publications (score_date, published_at, published_by, note)
    SELECT latest.score_date, 0, 'migration', 'the newest score date when publications began'
    FROM (SELECT MAX(score_date) AS score_date FROM risk_scores
          WHERE score_date <= date('now')) latest
    WHERE latest.score_date IS NOT NULL;

DROP VIEW risk_scores_latest;
CREATE VIEW risk_scores_latest AS
    SELECT * FROM risk_scores WHERE score_date =
        (SELECT score_date FROM risk_publications ORDER BY seq DESC LIMIT 1);
