-- Requests for the next run: the outcomes task (decay: a realised ROC AUC or calibration error
-- beyond its policy) and the drift task (high drift) ask for a retrain, a recalibration or new
-- cut-offs, with the reason. The train task of the next run meets every open request (it fits and
-- calibrates the candidates, and evaluate chooses cut-offs from them) and records which run did;
-- with train.params.retrain = "on_request" it trains only when a request is open.
CREATE TABLE model_requests (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    model        TEXT    NOT NULL,
    -- retrain, recalibrate or rethreshold
    request      TEXT    NOT NULL,
    reason       TEXT    NOT NULL,
    -- the task kind that asked (outcomes, drift) and its run's logical date
    requested_by TEXT    NOT NULL,
    requested_on TEXT    NOT NULL,
    requested_at INTEGER NOT NULL,
    -- the logical date of the run whose train task met it, when, and what it did
    met_on       TEXT,
    met_at       INTEGER,
    met_note     TEXT
);
