"""The FastAPI app the Airflow API server mounts at ``/integra`` (see ``plugin.py``).

Two routers with two kinds of protection: the webhook receiver (``POST /integra/webhooks``), which
Integra calls and which trusts only its HMAC signature, and the campaigns page (``/integra/ui/``,
``/integra/api/``), which trusts only a signed-in Airflow user allowed to read the DAG.
"""

from __future__ import annotations

from fastapi import FastAPI

from integra.ui.routes import router as ui_router
from integra.webhooks.receiver import router as webhook_router


def create_app() -> FastAPI:
    app = FastAPI(title="Integra", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(webhook_router)
    app.include_router(ui_router)
    return app


app = create_app()
