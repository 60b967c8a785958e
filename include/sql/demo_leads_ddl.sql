-- Demo/synthetic leads table, seeded by include/demo/leads.py.
-- One text for SQLite, PostgreSQL and MySQL/MariaDB, so only portable types are used: a TEXT primary
-- key is not allowed on MySQL, hence VARCHAR(64) for lead_id.
-- created_at holds UTC wall time; values are bound as 'YYYY-MM-DD HH:MM:SS' strings. For MySQL the
-- seeder reads TIMESTAMP as DATETIME (no session time zone conversion, no 2038 limit) and creates
-- the index without IF NOT EXISTS (MySQL 8 lacks it).
CREATE TABLE IF NOT EXISTS leads (
    lead_id    VARCHAR(64) PRIMARY KEY,
    full_name  TEXT,
    phone      TEXT,
    email      TEXT,
    company    TEXT,
    city       TEXT,
    product    TEXT,
    created_at TIMESTAMP NOT NULL
);

CREATE INDEX IF NOT EXISTS leads_created_at_idx ON leads (created_at);
