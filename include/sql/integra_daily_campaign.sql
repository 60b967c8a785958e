-- Leads of the daily campaign: everyone who arrived during the run's data interval.
-- Parameters are bound by the driver, never formatted in. created_at holds UTC wall time without a
-- zone, so the naive-UTC forms :data_interval_start_utc / :data_interval_end_utc fit it on SQLite,
-- PostgreSQL and MySQL alike (a timestamptz column would use :data_interval_start / :data_interval_end).
-- Suppression and cooldown are applied by the DAG, by phone number, against the ledger.
SELECT lead_id,
       full_name,
       phone,
       company,
       product,
       city
  FROM leads
 WHERE created_at >= :data_interval_start_utc
   AND created_at <  :data_interval_end_utc
