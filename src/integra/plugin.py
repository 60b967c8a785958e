"""Registers the Integra extra link, the /integra app and the "Integra" pages with Airflow.

Found through the ``airflow.plugins`` entry point of the installed package (``pyproject.toml``).
"""

from __future__ import annotations

from typing import Any

from airflow.plugins_manager import AirflowPlugin

from integra.links import IntegraCampaignLink

#: The app's place on the API server: ``POST /integra/webhooks``, ``/integra/ui/``, ``/integra/api/``.
URL_PREFIX = "/integra"


class LazyApp:
    """The ``/integra`` ASGI app, built at its first request. Every task process loads the plugins (for
    macros), and none of them needs FastAPI or the app imported: only the API server calls this."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from integra.app import app

            self._app = app
        await self._app(scope, receive, send)


class IntegraPlugin(AirflowPlugin):
    """The "Integra campaign" button, the webhook receiver and the campaigns page (nav entry and DAG tab)."""

    name = "integra"
    operator_extra_links = [IntegraCampaignLink()]  # noqa: RUF012 - the AirflowPlugin API is a list
    fastapi_apps = [{"app": LazyApp(), "url_prefix": URL_PREFIX, "name": "Integra"}]  # noqa: RUF012
    # Relative hrefs: they resolve against the UI's base URL, so a reverse-proxy path prefix still works.
    external_views = [  # noqa: RUF012
        {"name": "Integra", "href": "integra/ui/", "destination": "nav", "url_route": "integra"},
        {
            "name": "Integra",
            "href": "integra/ui/campaigns/{DAG_ID}",
            "destination": "dag",
            "url_route": "integra-campaign",
        },
    ]
