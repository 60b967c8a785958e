"""HTML of the campaigns page: server-rendered, no script, every value escaped, numbers only masked.

Links are relative (the page works under any base URL or reverse-proxy path); links into Airflow open
in the top window, since the UI shows this page in a frame.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import quote

from integra import contract
from integra.masking import mask_phone

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.2rem;color:#1a202c;font-size:14px}
h1{font-size:1.3rem}h2{font-size:1.05rem;margin-top:1.6rem}
table{border-collapse:collapse;margin:.4rem 0}
td,th{border-bottom:1px solid #e2e8f0;padding:.25rem .6rem;text-align:left;white-space:nowrap}
th{background:#f7fafc}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.unsettled td{background:#fff5d6}.attention{border:2px solid #d69e2e;background:#fffaf0;padding:.6rem 1rem}
code{background:#edf2f7;padding:0 .2rem;line-height:1.6}.muted{color:#718096}.bad{color:#c53030;font-weight:600}
"""
STATUS_CLASS = {"unknown": "bad", "sending": "bad", "failed": "bad"}
COUNT_COLUMNS = (
    ("queried", "queried"),
    ("sent", "sent"),
    ("rejected", "rejected"),
    ("duplicates", "duplicates"),
    ("suppressed", "suppressed"),
    ("cooled_down", "cooled down"),
    ("capped", "capped"),
    ("skipped_late", "skipped"),
)


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, datetime) else _e(value)


def _day(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if isinstance(value, datetime) else _e(value)


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )


def shown_value(row: dict[str, Any], show_names: bool) -> str | None:
    """A rejected lead's original value as this viewer may see it: numbers masked, names only with edit rights."""
    value = row.get("original_value")
    if value is None or not str(value).strip():
        return None
    field = str(row.get("field") or "")
    if field == "phone":
        return mask_phone(str(value))  # masking a masked value changes nothing
    if field == "lead_id":
        return str(value)
    return str(value) if show_names else "(hidden: needs edit access to the DAG)"


def index_page(dag_ids: list[str]) -> str:
    items = "".join(f'<li><a href="campaigns/{quote(d)}">{_e(d)}</a></li>' for d in dag_ids)
    body = "<h1>Integra campaigns</h1>" + (
        f"<ul>{items}</ul>" if items else '<p class="muted">No campaign you may read has a recorded day yet.</p>'
    )
    return _page("Integra campaigns", body)


def _chart(days: list[dict[str, Any]]) -> str:
    """Sent (green) over not sent (grey) per day, oldest left: a plain SVG, no script."""
    ordered = list(reversed(days))
    if not ordered:
        return ""
    top = max(max(d["counts"].get("sent", 0) + d["not_sent"], 1) for d in ordered)
    width, height, bar = 22, 120, 16
    parts = []
    for i, d in enumerate(ordered):
        sent, other = d["counts"].get("sent", 0), d["not_sent"]
        h_sent, h_other = height * sent / top, height * other / top
        x = i * width
        label = f"{_day(d['day'])}: {sent} sent, {other} not sent"
        parts.append(
            f'<g><title>{label}</title><rect x="{x}" y="{height - h_sent:.1f}" width="{bar}" height="{h_sent:.1f}" '
            f'fill="#38a169"/><rect x="{x}" y="{height - h_sent - h_other:.1f}" width="{bar}" '
            f'height="{h_other:.1f}" fill="#a0aec0"/></g>'
        )
    return (
        f'<svg role="img" aria-label="sent and not sent per day" width="{width * len(ordered)}" '
        f'height="{height}" viewBox="0 0 {width * len(ordered)} {height}">{"".join(parts)}</svg>'
        '<div class="muted">green: sent · grey: not sent (rejected, duplicates, suppressed, cooled down, '
        "capped, skipped)</div>"
    )


def _days_table(days: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{label}</th>" for _, label in COUNT_COLUMNS)
    rows = []
    for d in days:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(d["rejected_by_reason"].items()))
        cells = "".join(f'<td class="n">{d["counts"].get(key, 0)}</td>' for key, _ in COUNT_COLUMNS)
        status = f'<span class="{STATUS_CLASS.get(d["status"], "")}">{_e(d["status"])}</span>'
        rows.append(
            f'<tr><td>{_day(d["day"])}</td><td>{status}</td>{cells}<td class="n">{d["campaigns"]}</td>'
            f'<td class="muted">{_e(reasons)}</td></tr>'
        )
    return (
        f'<table id="days"><tr><th>day</th><th>status</th>{head}<th>campaigns</th><th>rejected by reason</th></tr>'
        f"{''.join(rows)}</table>"
    )


def _attention(unsettled: list[dict[str, Any]], ledger_conn_id: str) -> str:
    if not unsettled:
        return ""
    items = []
    for b in unsettled:
        key = _e(b["campaign_key"])
        conn = f" --conn-id {_e(ledger_conn_id)}" if ledger_conn_id != "integra_ledger" else ""
        items.append(
            f'<li><span class="bad">{_e(b["status"])}</span> {_day(b["interval_end"])} {_e(b["name"])} '
            f"— key <code>{key}</code><br>Look for the campaign named above in the Integra panel. If it exists: "
            f"<code>python -m integra.ledger mark-created{conn} {key} &lt;campaign_id&gt;</code>; if it does not: "
            f"<code>python -m integra.ledger release{conn} {key}</code>, then clear the day's "
            "<code>create_campaign</code>.</li>"
        )
    return (
        '<div class="attention" id="attention"><strong>Needs a person:</strong> these batches may or may not '
        f"have been created, so they are never sent again on their own.<ul>{''.join(items)}</ul></div>"
    )


def _batches_table(batches: list[dict[str, Any]], outcomes: dict[str, dict[str, int]], panel: str | None) -> str:
    rows = []
    for b in batches:
        cid = b["campaign_id"]
        link = (
            f'<a href="{_e(contract.panel_campaign_url(panel, str(cid)))}" target="_blank">{_e(cid)}</a>' if cid else ""
        )
        got = outcomes.get(str(cid)) if cid else None
        calls = f"{got['answered']} answered · {got['not_answered']} not · {got['opted_out']} opted out" if got else ""
        css = ' class="unsettled"' if b["status"] in ("sending", "unknown") else ""
        rows.append(
            f"<tr{css}><td>{_day(b['interval_end'])}</td><td>{b['batch_number']}/{b['batch_count']}</td>"
            f'<td><span class="{STATUS_CLASS.get(b["status"], "")}">{_e(b["status"])}</span></td>'
            f'<td>{_when(b["scheduled_at"])}</td><td>{link}</td><td class="n">{b["recipients_count"]}</td>'
            f"<td>{_e(calls)}</td><td><code>{_e(b['campaign_key'])}</code></td></tr>"
        )
    return (
        '<table id="batches"><tr><th>day</th><th>batch</th><th>status</th><th>scheduled_at</th><th>campaign</th>'
        f"<th>people</th><th>calls reported</th><th>key</th></tr>{''.join(rows)}</table>"
    )


def _lead_section(data: dict[str, Any], show_names: bool) -> str:
    form = (
        '<form method="get"><label>Lead id <input name="lead" value="'
        f'{_e(data["lead_id"] or "")}" maxlength="255"></label> <button>Find</button></form>'
    )
    found = data["lead"]
    if found is None:
        return form
    rows = "".join(
        f"<tr><td>{_day(r['interval_end'])}</td><td>{_e(r['reason'])}</td><td>{_e(r['field'])}</td>"
        f"<td>{_e(r['detail'])}</td><td>{_e(shown_value(r, show_names))}</td></tr>"
        for r in found["rejections"]
    )
    sent = "".join(
        f"<tr><td>{_day(r['interval_end'])}</td><td>{_e(r['phone_masked'])}</td><td>{_e(r['status'])}</td>"
        f"<td>{_e(r['campaign_id'])}</td><td>{_when(r['scheduled_at'])}</td></tr>"
        for r in found["batches"]
    )
    if not rows and not sent:
        return form + f'<p id="lead-result">Lead {_e(data["lead_id"])}: nothing recorded for this campaign.</p>'
    return (
        form
        + f'<div id="lead-result"><p>Lead {_e(data["lead_id"])}</p>'
        + (
            "<table><tr><th>day</th><th>not sent because</th><th>field</th><th>detail</th><th>value</th></tr>"
            f"{rows}</table>"
            if rows
            else ""
        )
        + (
            "<table><tr><th>day</th><th>number</th><th>batch</th><th>campaign</th><th>scheduled_at</th></tr>"
            f"{sent}</table>"
            if sent
            else ""
        )
        + "</div>"
    )


def campaign_page(data: dict[str, Any], *, show_names: bool) -> str:
    dag = _e(data["dag_id"])
    if not data["days"] and not data["unsettled"]:
        body = f'<p><a href="../">All campaigns</a></p><h1>{dag}</h1><p class="muted">No recorded day yet.</p>'
        return _page(data["dag_id"], body + _lead_section(data, show_names))
    body = (
        f'<p><a href="../">All campaigns</a> · <a href="../../../dags/{quote(data["dag_id"])}" target="_top">'
        f"DAG in Airflow</a></p><h1>{dag}</h1>"
        + _attention(data["unsettled"], data["ledger_conn_id"])
        + f"<h2>Recorded days ({len(data['days'])}, newest first)</h2>"
        + _chart(data["days"])
        + _days_table(data["days"])
        + "<h2>Batches of the last days</h2>"
        + _batches_table(data["batches"], data["outcomes"], data["panel_url"])
        + "<h2>Find a lead</h2>"
        + _lead_section(data, show_names)
    )
    return _page(data["dag_id"], body)
