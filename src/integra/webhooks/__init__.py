"""Call outcomes back from Integra: signed webhooks received on the Airflow API server, stored in the ledger."""
