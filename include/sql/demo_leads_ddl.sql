-- Demo/synthetic leads table, seeded by include/demo/leads.py.
-- The same text must run on SQLite and PostgreSQL, so only portable types are used.
-- created_at holds UTC wall time; values are bound as 'YYYY-MM-DD HH:MM:SS' strings.
CREATE TABLE IF NOT EXISTS leads (
    lead_id    TEXT PRIMARY KEY,
    full_name  TEXT,
    phone      TEXT,
    email      TEXT,
    company    TEXT,
    city       TEXT,
    product    TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS leads_created_at_idx ON leads (created_at);
