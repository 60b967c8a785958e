"""The campaigns page and its data endpoints, mounted by the API server under ``/integra``.

Plugin apps are not behind Airflow's login, so every route here asks Airflow's auth manager itself, as
the API server's own routes do: the user comes from the request's JWT (the UI's session cookie, or a
bearer token), and each campaign is shown only to a user allowed to read that DAG. An anonymous
request gets 401 and no data. Read only: nothing here writes.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from integra.ui import render

#: The ledger the page reads (one per deployment; the campaigns' ``ledger_conn_id``).
LEDGER_ENV = "INTEGRA_LEDGER_CONN_ID"
#: Days in the chart and table; batches are listed for the newest of them.
DAYS, BATCH_DAYS = 30, 7

router = APIRouter()


async def current_user(request: Request) -> Any:
    """The signed-in Airflow user, from a bearer token or else the UI's session cookie, as the API server's
    own routes read it; 401 without a valid one. The auth manager decodes and checks the token."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
    from jwt import InvalidTokenError

    scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
    token = bearer.strip() if scheme.lower() == "bearer" else request.cookies.get(COOKIE_NAME_JWT_TOKEN)
    if not token:
        raise HTTPException(status_code=401, detail="Not authenticated: sign in to Airflow")
    try:
        return await get_auth_manager().get_user_from_token(token)
    except InvalidTokenError:  # expired or forged alike (ExpiredSignatureError is one)
        raise HTTPException(status_code=401, detail="Invalid or expired token: sign in to Airflow again") from None


User = Annotated[Any, Depends(current_user)]


def may(user: Any, dag_id: str, method: str = "GET") -> bool:
    """Whether the auth manager lets ``user`` see this DAG's runs (or, with PUT, edit the DAG), asked with the
    DAG's team as the API server's own routes ask it, so multi-team deployments keep teams apart."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails
    from airflow.models.dag import DagModel

    details = DagDetails(id=dag_id, team_name=DagModel.get_team_name(dag_id))
    entity = DagAccessEntity.RUN if method == "GET" else None
    return bool(get_auth_manager().is_authorized_dag(method=method, access_entity=entity, details=details, user=user))  # type: ignore[arg-type]


def _ledger() -> Any:
    from integra.ledger.store import Ledger

    return Ledger(os.environ.get(LEDGER_ENV) or "integra_ledger")


def _campaign_dags() -> list[str]:
    from integra.ui import queries

    return queries.campaign_dags(_ledger())


def _readable(user: Any, dag_id: str) -> None:
    if not may(user, dag_id):
        raise HTTPException(status_code=403, detail=f"not allowed to read DAG {dag_id}")


def _panel_url() -> str | None:
    """The Integra panel's base URL from the API connection, for campaign links (None: the default)."""
    from airflow.sdk import BaseHook

    from integra import contract
    from integra.hooks import hook_extras

    try:
        return hook_extras(BaseHook.get_connection(contract.DEFAULT_CONN_ID).extra_dejson).get("panel_url")
    except Exception:  # no connection here: links go to the production panel
        return None


def campaign_data(dag_id: str, lead_id: str | None) -> dict[str, Any]:
    from integra.ui import queries  # SQLAlchemy tables: loaded on the API server at the first view, not with the plugin

    ledger = _ledger()
    day_rows = queries.days(ledger, dag_id, DAYS)
    stuck = queries.unsettled(ledger, dag_id)
    # A day whose batch is unsettled has no recorded summary yet: its batches are listed all the same.
    shown_days = {d["day"] for d in day_rows[:BATCH_DAYS]} | {b["interval_end"] for b in stuck}
    batch_rows = queries.batches(ledger, dag_id, sorted(shown_days, reverse=True))
    ids = [str(b["campaign_id"]) for b in batch_rows if b["campaign_id"]]
    return {
        "dag_id": dag_id,
        "days": day_rows,
        "batches": batch_rows,
        "unsettled": stuck,
        "outcomes": queries.outcomes(ledger, ids),
        "lead": queries.lead(ledger, dag_id, lead_id) if lead_id else None,
        "lead_id": lead_id,
        "ledger_conn_id": ledger.conn_id,
        "panel_url": _panel_url(),
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@router.get("/ui/", response_class=HTMLResponse)
async def index(user: User) -> HTMLResponse:
    dags = await run_in_threadpool(_campaign_dags)
    return HTMLResponse(render.index_page([d for d in dags if may(user, d)]))


@router.get("/ui/campaigns/{dag_id}", response_class=HTMLResponse)
async def campaign_page(
    user: User, dag_id: str, lead: Annotated[str | None, Query(max_length=255)] = None
) -> HTMLResponse:
    _readable(user, dag_id)
    data = await run_in_threadpool(campaign_data, dag_id, (lead or "").strip() or None)
    return HTMLResponse(render.campaign_page(data, show_names=may(user, dag_id, "PUT")))


@router.get("/api/campaigns")
async def api_campaigns(user: User) -> dict[str, Any]:
    dags = await run_in_threadpool(_campaign_dags)
    return {"campaigns": [d for d in dags if may(user, d)]}


@router.get("/api/campaigns/{dag_id}")
async def api_campaign(user: User, dag_id: str, lead: Annotated[str | None, Query(max_length=255)] = None) -> Any:
    _readable(user, dag_id)
    data = await run_in_threadpool(campaign_data, dag_id, (lead or "").strip() or None)
    show_names = may(user, dag_id, "PUT")
    if data["lead"]:
        for row in data["lead"]["rejections"]:
            row["original_value"] = render.shown_value(row, show_names)
    return _jsonable(data)
