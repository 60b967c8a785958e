"""The campaigns page in the Airflow UI: recent days, batches, rejections and call outcomes, read only."""
