-- Who was champion, and since when: `models rollback` puts back the champion before the current
-- one, whatever its version number. Existing champions start the history.
CREATE TABLE champion_history (
    seq     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model   TEXT    NOT NULL,
    version BIGINT  NOT NULL,
    since   BIGINT  NOT NULL,
    -- gate, promote or rollback
    set_by  TEXT    NOT NULL
);
INSERT INTO champion_history (model, version, since, set_by)
    SELECT model, version, stage_changed_at, 'gate' FROM model_versions WHERE stage = 'champion';

-- A champion promoted by hand with --pin: the nightly gate registers passing candidates without
-- replacing it until `models unpin` (or a rollback).
CREATE TABLE champion_pins (
    model     TEXT    PRIMARY KEY,
    version   BIGINT  NOT NULL,
    pinned_at BIGINT  NOT NULL
);
