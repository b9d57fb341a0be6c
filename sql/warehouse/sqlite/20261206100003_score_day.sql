-- `score_day`: the risk table's date under the name PostgreSQL types as a DATE. SQLite has no date
-- type (ISO text is its date), so here it is `score_date` itself, generated, for CRM queries that
-- run on both.
ALTER TABLE risk_scores ADD COLUMN score_day DATE GENERATED ALWAYS AS (score_date) VIRTUAL;
