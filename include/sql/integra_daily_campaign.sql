-- Leads of the daily campaign: everyone who arrived during the run's data interval.
-- Parameters are bound by the driver, never formatted in: :data_interval_start, :data_interval_end,
-- :logical_date, :ds and :dag_id are available. Suppression and cooldown are added by the DAG.
SELECT lead_id,
       full_name,
       phone,
       company,
       product,
       city
  FROM leads
 WHERE created_at >= :data_interval_start
   AND created_at <  :data_interval_end
