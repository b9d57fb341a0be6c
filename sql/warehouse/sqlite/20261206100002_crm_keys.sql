-- The contract's CRM keys of each customer (an email, an external CRM id) as a JSON object of
-- text values, for CRM imports that match on them (json_extract(crm_keys, '$.email')). NULL when
-- the contract names none. The views select * and so show it.
ALTER TABLE risk_scores ADD COLUMN crm_keys TEXT;
