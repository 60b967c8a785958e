"""Registering the receiver with Integra, and keeping the secret it shows once in an Airflow connection.

The secret goes straight from Integra's answer into the ``integra_webhook`` connection in Airflow's
metadata database (or a file of mode 0600 for a secrets manager), never to the terminal or a log.
Registering again rotates: the new secret becomes the password, the old one stays as
``previous_secret`` until the old registration is gone, so no delivery in flight is refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from integra import contract
from integra.exceptions import IntegraConfigError


def _stored_connection(conn_id: str) -> Any | None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is not None:
            session.expunge(conn)
        return conn


def _save_connection(conn_id: str, secret: str, extra: dict[str, Any]) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one_or_none()
        if conn is None:
            conn = Connection(conn_id=conn_id, conn_type="generic", description="Integra webhook secret")
            session.add(conn)
        conn.password = secret
        conn.extra = json.dumps(extra)


def register(
    url: str,
    *,
    api_conn_id: str = contract.DEFAULT_CONN_ID,
    webhook_conn_id: str = contract.WEBHOOK_CONN_ID,
    ledger_conn_id: str | None = None,
    secret_file: Path | None = None,
) -> dict[str, Any]:
    """Register ``url`` for every event; store the secret; return the registration without it."""
    from integra.hooks import IntegraHook

    if not url.startswith(("https://", "http://")):
        raise IntegraConfigError(f"--url: {url!r} is not an http(s) URL; give the public URL of /integra/webhooks")
    env = f"AIRFLOW_CONN_{webhook_conn_id.upper()}"
    if secret_file is None and env in os.environ:
        raise IntegraConfigError(
            f"{env} is set, so a secret stored in the metadata database would be hidden by it. Pass --secret-file "
            "PATH to receive the secret for your secrets manager, or unset the variable."
        )
    previous = None if secret_file else _stored_connection(webhook_conn_id)
    old_extra = previous.extra_dejson if previous is not None else {}
    hook = IntegraHook(api_conn_id)
    answer = hook.register_webhook(url)
    secret = answer.pop(contract.WEBHOOK_SECRET_FIELD, None)
    if not secret:
        raise IntegraConfigError(f"Integra registered webhook {answer.get('id')} but its answer held no secret")
    extra = {
        "webhook_id": answer.get("id"),
        "url": url,
        "ledger_conn_id": ledger_conn_id or old_extra.get("ledger_conn_id") or "integra_ledger",
    }
    if previous is not None and previous.password:
        extra["previous_secret"] = previous.password  # deliveries signed before the switch still verify
        extra["previous_webhook_id"] = old_extra.get("webhook_id")
    if secret_file is not None:
        secret_file.touch(mode=0o600, exist_ok=True)
        secret_file.chmod(0o600)
        secret_file.write_text(secret, encoding="utf-8")
    else:
        _save_connection(webhook_conn_id, secret, extra)
    return {**answer, "stored_in": str(secret_file) if secret_file else f"connection {webhook_conn_id}"}


def finish_rotation(
    *, api_conn_id: str = contract.DEFAULT_CONN_ID, webhook_conn_id: str = contract.WEBHOOK_CONN_ID
) -> str | None:
    """Delete the old registration at Integra and forget its secret; returns the old webhook id."""
    from integra.hooks import IntegraHook

    conn = _stored_connection(webhook_conn_id)
    if conn is None or not conn.password:
        raise IntegraConfigError(f"connection '{webhook_conn_id}' is not in the metadata database: nothing to rotate")
    extra = conn.extra_dejson
    old_id = extra.pop("previous_webhook_id", None)
    if old_id:
        IntegraHook(api_conn_id).delete_webhook(str(old_id))
    extra.pop("previous_secret", None)
    _save_connection(webhook_conn_id, conn.password, extra)
    return str(old_id) if old_id else None


def deliveries(
    webhook_id: str | None = None,
    *,
    api_conn_id: str = contract.DEFAULT_CONN_ID,
    webhook_conn_id: str = contract.WEBHOOK_CONN_ID,
) -> dict[str, Any]:
    """Integra's view of the registration: recent deliveries with their status codes and attempts."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from integra.hooks import IntegraHook

    if webhook_id is None:
        conn = _stored_connection(webhook_conn_id)  # a command line is no worker: read the metadata DB itself
        if conn is None:
            try:
                conn = BaseHook.get_connection(webhook_conn_id)  # environment variables, secrets backends
            except AirflowNotFoundException:
                conn = None
        webhook_id = conn.extra_dejson.get("webhook_id") if conn is not None else None
    if not webhook_id:
        raise IntegraConfigError(f"no webhook id: pass --id, or register first (connection '{webhook_conn_id}')")
    answer = IntegraHook(api_conn_id).webhook(str(webhook_id))
    answer.pop(contract.WEBHOOK_SECRET_FIELD, None)
    return answer
