-- The score's histogram beside its drift row (JSON: equal-width bands, the training reference's
-- and today's shares), drawn by the report. NULL for the inputs' rows and for rows stored before.
ALTER TABLE drift_reports ADD COLUMN histogram TEXT;
