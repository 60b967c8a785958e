"""The daily campaign as a data engineer writes it by hand in an afternoon: one task, no ledger.

Figure 9 of run_all.py runs `airflow dags test` of this file against the project's
``integra_daily_campaign``: same warehouse, same data interval and SQL filter
(include/sql/integra_daily_campaign.sql), same sandbox, same logical date. bench_e2e.run_once copies
it into a private DAGs folder (kind ``hand``); it is not in the project's dags/.

Per row: ``phonenumbers`` parse (region BR) + validity check + E.164, a pydantic model, a set for
duplicates; rows without a name, invalid numbers and repeated numbers are skipped. One ``requests.post``
per 10,000 recipients to ``{host}/campaigns`` of the connection ``integra_default`` (read as the
``AIRFLOW_CONN_INTEGRA_DEFAULT`` JSON); the warehouse path comes from ``AIRFLOW_CONN_INTEGRA_WAREHOUSE``.
No suppression, cooldown, calling window, idempotency or accounting.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, CronTriggerTimetable, task

DAG_ID = "integra_bench_hand_written"
# Copied from the Integra panel, as in include/campaigns/integra_daily_campaign.yaml.
PROJECT_ID = "3f6d8a52-4c1e-4b7a-9d21-6a0f2b8c9e14"
AGENT_ID = "8b2e4d10-7a3c-4f5e-b1d9-2c6e8f0a4b37"
PHONE_NUMBER_ID = "c5a1e7f3-2b9d-4e6c-8f04-1d3b5a7c9e20"
TIMEZONE = "America/Sao_Paulo"
SEND_AT_HOUR = 10
MAX_RECIPIENTS = 10_000

with DAG(
    dag_id=DAG_ID,
    schedule=CronTriggerTimetable("0 7 * * *", timezone=TIMEZONE, interval=timedelta(days=1)),
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
):

    @task(task_id="send_campaign")
    def send_campaign(data_interval_start=None, data_interval_end=None, logical_date=None):
        import json
        import logging
        import os
        import sqlite3
        from datetime import UTC
        from zoneinfo import ZoneInfo

        import phonenumbers
        import requests
        from pydantic import BaseModel

        class Recipient(BaseModel):
            phone_number: str
            recipient_name: str
            dynamic_variables: dict[str, str]

        log = logging.getLogger("hand_written")
        end = data_interval_end or logical_date
        start = data_interval_start or end - timedelta(days=1)
        # created_at holds UTC wall time without a zone, as 'YYYY-MM-DD HH:MM:SS'.
        bounds = [value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") for value in (start, end)]

        warehouse = json.loads(os.environ["AIRFLOW_CONN_INTEGRA_WAREHOUSE"])["host"]
        conn = sqlite3.connect(warehouse)
        try:
            rows = conn.execute(
                "SELECT full_name, phone, company, product FROM leads WHERE created_at >= ? AND created_at < ?",
                bounds,
            ).fetchall()
        finally:
            conn.close()

        seen = set()
        recipients = []
        for full_name, phone, company, product in rows:
            name = (full_name or "").strip()
            if not name or not phone:
                continue
            try:
                number = phonenumbers.parse(phone, "BR")
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(number):
                continue
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            if e164 in seen:
                continue
            seen.add(e164)
            recipient = Recipient(
                phone_number=e164,
                recipient_name=name,
                dynamic_variables={"leadName": name, "companyName": company or "", "product": product or ""},
            )
            recipients.append(recipient.model_dump())

        api = json.loads(os.environ["AIRFLOW_CONN_INTEGRA_DEFAULT"])
        url = api["host"].rstrip("/") + "/campaigns"
        headers = {"Authorization": f"Bearer {api['password']}"}
        day = end.astimezone(ZoneInfo(TIMEZONE)).date()
        scheduled_at = datetime(day.year, day.month, day.day, SEND_AT_HOUR, tzinfo=ZoneInfo(TIMEZONE)).isoformat()
        batches = [recipients[i : i + MAX_RECIPIENTS] for i in range(0, len(recipients), MAX_RECIPIENTS)]
        for number, batch in enumerate(batches, start=1):
            payload = {
                "name": f"Leads diários {day.isoformat()} ({number}/{len(batches)})",
                "project_id": PROJECT_ID,
                "agent_id": AGENT_ID,
                "phone_number_id": PHONE_NUMBER_ID,
                "scheduled_at": scheduled_at,
                "recipients": batch,
            }
            response = requests.post(url, json=payload, headers=headers, timeout=120)
            response.raise_for_status()
            log.info("campaign %s: %d recipients", response.json()["id"], len(batch))
        log.info("%d rows, %d recipients sent in %d campaigns", len(rows), len(recipients), len(batches))
        return {"rows": len(rows), "sent": len(recipients), "campaigns": len(batches)}

    send_campaign()
