"""Failure notifications: a person hears about a failed campaign day without watching the UI.

Posts ``{"text": ...}`` to an HTTP connection, the shape Slack, Microsoft Teams (workflows) and
Mattermost incoming webhooks accept. The text is built from our own exception messages, which name
the campaign and its key but never a token or a phone number.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseNotifier

MAX_TEXT = 1500


def failure_text(context: Any) -> str:
    """One readable paragraph: which campaign, which day, which task, and what the error says."""
    ti = context.get("ti")
    dag_id = getattr(ti, "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    map_index = getattr(ti, "map_index", -1)
    day = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
    where = str(task_id)
    if map_index is not None and map_index >= 0:  # an instance may send several batches: its own name says which
        rendered = getattr(ti, "rendered_map_index", None)
        where += f" [{rendered}]" if rendered else f" (map index {map_index})"
    error = str(context.get("exception") or "no error message")
    text = f"Integra campaign {dag_id}, day {day}: {where} failed. {error}"
    return text[:MAX_TEXT]


class CampaignFailureNotifier(BaseNotifier):
    """``on_failure_callback`` that posts the failure to a webhook connection.

    :param http_conn_id: an http connection whose host is the webhook URL.
    """

    template_fields = ("http_conn_id",)

    def __init__(self, *, http_conn_id: str) -> None:
        super().__init__()
        self.http_conn_id = http_conn_id

    def notify(self, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook

        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id)
        hook.run(endpoint=None, json={"text": failure_text(context)}, extra_options={"timeout": 10})


class ApprovalRequestNotifier(BaseNotifier):
    """Posts "this day waits for your approval" with the link to its Required actions page.

    :param http_conn_id: an http connection whose host is the webhook URL (the failure webhook).
    """

    template_fields = ("http_conn_id",)

    def __init__(self, *, http_conn_id: str) -> None:
        super().__init__()
        self.http_conn_id = http_conn_id

    def notify(self, context: Any) -> None:
        from airflow.providers.http.hooks.http import HttpHook
        from airflow.providers.standard.operators.hitl import HITLOperator

        ti = context.get("ti")
        try:
            link = HITLOperator.generate_link_to_ui_from_context(context=context)
        except ValueError:  # no api.base_url configured
            link = ""
        day = context.get("logical_date") or getattr(context.get("dag_run"), "run_after", None)
        text = f"Integra campaign {getattr(ti, 'dag_id', '?')}, day {day}: waits for approval before anyone is phoned."
        text += f" Approve or reject: {link}" if link else " Open Required actions in the Airflow UI."
        hook = HttpHook(method="POST", http_conn_id=self.http_conn_id)
        hook.run(endpoint=None, json={"text": text[:MAX_TEXT]}, extra_options={"timeout": 10})
