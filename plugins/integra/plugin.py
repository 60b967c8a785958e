"""Registers the Integra extra link with Airflow (found in the plugins folder at start-up)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from integra.links import IntegraCampaignLink


class IntegraPlugin(AirflowPlugin):
    """Makes the "Integra campaign" button known to the API server and UI."""

    name = "integra"
    operator_extra_links = [IntegraCampaignLink()]  # noqa: RUF012 - the AirflowPlugin API is a list
