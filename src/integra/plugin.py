"""Registers the Integra extra link and the webhook receiver with Airflow (plugins folder, at start-up)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from integra.links import IntegraCampaignLink
from integra.webhooks.receiver import app as webhook_app

#: The receiver's place on the API server: ``POST /integra/webhooks``.
URL_PREFIX = "/integra"


class IntegraPlugin(AirflowPlugin):
    """Makes the "Integra campaign" button known to the UI, and mounts the webhook receiver."""

    name = "integra"
    operator_extra_links = [IntegraCampaignLink()]  # noqa: RUF012 - the AirflowPlugin API is a list
    fastapi_apps = [{"app": webhook_app, "url_prefix": URL_PREFIX, "name": "Integra webhooks"}]  # noqa: RUF012
