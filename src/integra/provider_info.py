"""What Airflow's providers manager reads from the ``apache_airflow_provider`` entry point.

It declares the ``integra`` connection type and its form (relabelled fields, extras as widgets,
placeholders) as metadata, so the UI builds the form without importing the hook.
"""

from __future__ import annotations

from typing import Any

from integra import __version__

PACKAGE_NAME = "integra-airflow"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": PACKAGE_NAME,
        "name": "Integra",
        "description": "Daily outbound call campaigns from warehouse leads through the Integra voice-agent API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Integra",
                "external-doc-url": "https://useintegra.com.br",
                "tags": ["service"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "integra.hooks.IntegraHook",
                "hook-name": "Integra",
                "connection-type": "integra",
                "ui-field-behaviour": {
                    "hidden-fields": ["login", "port", "schema"],
                    "relabeling": {"host": "API base URL", "password": "API token"},
                    "placeholders": {
                        "host": "https://api.useintegra.com.br/api/v1",
                        "password": "ik_live_...",
                        "extra": '{"panel_url": "https://app.useintegra.com.br"}',
                    },
                },
                "conn-fields": {
                    "panel_url": {
                        "label": "Panel URL",
                        "description": "Where the Integra campaign button links to (default the production panel).",
                        "schema": {"type": ["string", "null"], "format": "uri"},
                    },
                    "connect_timeout": {
                        "label": "Connect timeout (s)",
                        "description": "Seconds to establish the TCP/TLS connection (default 10).",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                    "read_timeout": {
                        "label": "Read timeout (s)",
                        "description": "Seconds to wait for an answer once a request was sent (default 120).",
                        "schema": {"type": ["number", "null"], "minimum": 1},
                    },
                },
            }
        ],
        "extra-links": ["integra.links.IntegraCampaignLink"],
    }
