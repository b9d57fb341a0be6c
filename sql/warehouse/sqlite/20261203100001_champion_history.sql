-- Who was champion, and since when: `models rollback` puts back the champion before the current
-- one, whatever its version number. Existing champions start the history.
CREATE TABLE champion_history (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    model   TEXT    NOT NULL,
    version INTEGER  NOT NULL,
    since   INTEGER  NOT NULL,
    -- gate, promote or rollback
    set_by  TEXT    NOT NULL,
    -- 1 once a rollback went back past this row: rollbacks walk the history like a stack.
    rolled_back INTEGER NOT NULL DEFAULT 0
);
-- Earlier champions (archived versions, by when they were archived) and the current one start
-- the history, so the first rollback after the upgrade finds the champion before.
INSERT INTO champion_history (model, version, since, set_by)
    SELECT model, version, stage_changed_at, 'gate' FROM model_versions
    WHERE stage = 'archived' ORDER BY stage_changed_at, version;
INSERT INTO champion_history (model, version, since, set_by)
    SELECT model, version, stage_changed_at, 'gate' FROM model_versions WHERE stage = 'champion';

-- A champion promoted by hand with --pin: the nightly gate registers passing candidates without
-- replacing it until `models unpin` (or a rollback).
CREATE TABLE champion_pins (
    model     TEXT    PRIMARY KEY,
    version   INTEGER  NOT NULL,
    pinned_at INTEGER  NOT NULL
);
