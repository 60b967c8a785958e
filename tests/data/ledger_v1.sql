-- The ledger as the first version created it in the warehouse (include/sql/ledger_ddl.sql before the
-- ledger became its own store), kept for the migration test. Valid on SQLite and PostgreSQL only.

-- One row per batch of a run: the idempotency key claimed before the POST.
-- status: sending (claimed; POST in flight, or its outcome unknown if the attempt died),
--         created (campaign_id stored), not_created (a failure that provably created nothing),
--         unknown (the POST's answer was lost: timeout, cut connection, 5xx),
--         skipped (the late policy skipped the day).
CREATE TABLE IF NOT EXISTS integra_campaigns (
    campaign_key     VARCHAR(255) PRIMARY KEY,
    dag_id           VARCHAR(250) NOT NULL,
    run_id           VARCHAR(250) NOT NULL,
    logical_date     VARCHAR(40)  NOT NULL,
    batch_number     INTEGER      NOT NULL,
    batch_count      INTEGER      NOT NULL,
    batch_hash       VARCHAR(64)  NOT NULL,
    name             TEXT         NOT NULL,
    status           VARCHAR(20)  NOT NULL,
    campaign_id      VARCHAR(64),
    scheduled_at     VARCHAR(40),
    recipients_count INTEGER      NOT NULL,
    attempts         INTEGER      NOT NULL DEFAULT 1,
    last_error       TEXT,
    claimed_at       TIMESTAMP    NOT NULL,
    updated_at       TIMESTAMP    NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_integra_campaigns_run ON integra_campaigns (dag_id, logical_date);

-- One row per person in a claimed batch, written with the claim. campaign_id is set when Integra
-- confirms the campaign: rows without it belong to a batch that was not (or not yet) created.
-- The cooldown and "who was phoned" read the rows that have a campaign_id.
CREATE TABLE IF NOT EXISTS integra_campaign_recipients (
    campaign_key     VARCHAR(255) NOT NULL,
    lead_id          VARCHAR(255) NOT NULL,
    campaign_id      VARCHAR(64),
    dag_id           VARCHAR(250) NOT NULL,
    run_id           VARCHAR(250) NOT NULL,
    logical_date     VARCHAR(40)  NOT NULL,
    phone_e164       VARCHAR(20)  NOT NULL,
    phone_masked     VARCHAR(20)  NOT NULL,
    recipient_name   TEXT         NOT NULL,
    scheduled_at     VARCHAR(40)  NOT NULL,
    sent_at          TIMESTAMP    NOT NULL,
    PRIMARY KEY (campaign_key, lead_id)
);
CREATE INDEX IF NOT EXISTS ix_integra_recipients_lead ON integra_campaign_recipients (dag_id, lead_id, sent_at);
CREATE INDEX IF NOT EXISTS ix_integra_recipients_phone ON integra_campaign_recipients (phone_e164, sent_at);

-- One row per lead that was not sent because of its data (reason codes in the README),
-- including duplicates of a number already in the run.
CREATE TABLE IF NOT EXISTS integra_rejected_leads (
    dag_id           VARCHAR(250) NOT NULL,
    logical_date     VARCHAR(40)  NOT NULL,
    lead_id          VARCHAR(255) NOT NULL,
    reason           VARCHAR(40)  NOT NULL,
    run_id           VARCHAR(250) NOT NULL,
    field            VARCHAR(100),
    detail           TEXT,
    original_value   TEXT,
    recorded_at      TIMESTAMP    NOT NULL,
    PRIMARY KEY (dag_id, logical_date, lead_id, reason)
);

-- Numbers that must never be called (opt-outs, complaints). Maintained by people or other jobs.
CREATE TABLE IF NOT EXISTS integra_suppression_list (
    phone_e164       VARCHAR(20)  PRIMARY KEY,
    reason           TEXT,
    added_at         TIMESTAMP
);

-- One row per campaign DAG run: the accounting a person reads first.
CREATE TABLE IF NOT EXISTS integra_runs (
    dag_id           VARCHAR(250) NOT NULL,
    logical_date     VARCHAR(40)  NOT NULL,
    run_id           VARCHAR(250) NOT NULL,
    status           VARCHAR(20)  NOT NULL,
    queried          INTEGER      NOT NULL,
    sent             INTEGER      NOT NULL,
    rejected         INTEGER      NOT NULL,
    suppressed       INTEGER      NOT NULL,
    duplicates       INTEGER      NOT NULL,
    cooled_down      INTEGER      NOT NULL,
    campaigns        INTEGER      NOT NULL,
    summary          TEXT         NOT NULL,
    recorded_at      TIMESTAMP    NOT NULL,
    PRIMARY KEY (dag_id, logical_date)
);
