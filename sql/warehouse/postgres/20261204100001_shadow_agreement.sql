-- Shadow scoring: each night a shadow model (a registered version that is not the champion) can
-- score the same customers. Its rows go to risk_scores with role 'shadow' and never reach
-- risk_scores_latest; how far it agrees with the champion that night is kept here.
CREATE TABLE shadow_agreement (
    score_date         TEXT    NOT NULL,
    model              TEXT    NOT NULL,
    champion_version   BIGINT  NOT NULL,
    shadow_version     BIGINT  NOT NULL,
    rows_compared      BIGINT  NOT NULL,
    -- Spearman's rank correlation of the two models' probabilities
    spearman           DOUBLE PRECISION NOT NULL,
    -- the share of the champion's riskiest tenth also in the shadow's
    top_decile_overlap DOUBLE PRECISION NOT NULL,
    -- the share of customers both put in the same tier, and the tier agreement matrix as JSON
    -- ({"tiers": [...], "matrix": [[champion tier i, shadow tier j], ...]})
    tier_agreement     DOUBLE PRECISION NOT NULL,
    tier_matrix        TEXT    NOT NULL,
    created_at         BIGINT  NOT NULL,
    PRIMARY KEY (score_date, model)
);
