"""``python -m integra.ledger``: create or upgrade the ledger, and resolve a batch by its key.

Connections resolve as in Airflow (``AIRFLOW_CONN_*`` variables, a secrets backend, the metadata DB).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from integra.exceptions import IntegraConfigError
from integra.ledger import recovery, schema
from integra.ledger.store import Ledger


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conn-id", default=schema.DEFAULT_CONN_ID, help="ledger connection id (default %(default)s)")
    parser = argparse.ArgumentParser(prog="python -m integra.ledger", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("upgrade", parents=[common], help="create the ledger or migrate it (idempotent)")
    commands.add_parser("check", parents=[common], help="exit 0 if the ledger is at this code's revision")
    show = commands.add_parser("show", parents=[common], help="one batch by key, or every sending/unknown one")
    show.add_argument("key", nargs="?")
    created = commands.add_parser("mark-created", parents=[common], help="the campaign exists: record its id")
    created.add_argument("key")
    created.add_argument("campaign_id")
    release = commands.add_parser("release", parents=[common], help="no campaign exists: let the next attempt send")
    release.add_argument("key")
    release.add_argument("--note", default="checked the Integra panel: no campaign")
    release.add_argument("--force", action="store_true", help="release a key claimed in the last hour too")
    return parser


def _describe(row: dict[str, Any]) -> str:
    return json.dumps(
        {k: row[k] for k in ("campaign_key", "status", "campaign_id", "name", "attempts", "last_error", "updated_at")},
        default=str,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    conn_id = args.conn_id
    try:
        if args.command == "upgrade":
            before, after = schema.upgrade(conn_id)
            print(f"Ledger at '{conn_id}': {before or 'empty'} -> {after}")
            return 0
        if args.command == "check":
            schema.check_ready(conn_id)
            print(f"Ledger at '{conn_id}' is ready (revision {schema.head_revision()})")
            return 0
        ledger = Ledger(conn_id)
        if args.command == "show":
            rows = [recovery.require(ledger, args.key)] if args.key else recovery.unresolved(ledger)
            for row in rows:
                print(_describe(row))
            return 0
        if args.command == "mark-created":
            print(_describe(recovery.mark_created(ledger, args.key, args.campaign_id)))
            return 0
        row = recovery.release_key(ledger, args.key, note=args.note, force=args.force)
        print(_describe(row))
        print("Released: clear the create_campaign task of that day (or rerun the day) to send it.")
        return 0
    except (IntegraConfigError, recovery.RecoveryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
