"""``python -m integra.webhooks``: register the receiver with Integra, rotate its secret, list deliveries.

Run it where Airflow's metadata database is reachable (like ``airflow connections``): the secret Integra
shows once is written to the ``integra_webhook`` connection there, never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from integra import contract
from integra.exceptions import IntegraError


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--conn-id", default=contract.DEFAULT_CONN_ID, help="Integra API connection (%(default)s)")
    common.add_argument(
        "--webhook-conn-id", default=contract.WEBHOOK_CONN_ID, help="connection holding the secret (%(default)s)"
    )
    parser = argparse.ArgumentParser(prog="python -m integra.webhooks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    register = commands.add_parser("register", parents=[common], help="register (or rotate) the receiver URL")
    register.add_argument("--url", required=True, help="public URL of the receiver: https://<host>/integra/webhooks")
    register.add_argument("--ledger-conn-id", help="ledger the receiver writes to (default integra_ledger)")
    register.add_argument("--secret-file", type=Path, help="write the secret here (mode 0600) instead")
    commands.add_parser("finish-rotation", parents=[common], help="delete the old registration, forget its secret")
    listing = commands.add_parser("deliveries", parents=[common], help="recent deliveries, as Integra saw them")
    listing.add_argument("--id", help="webhook id (default: the registered one)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from integra.webhooks import registration

    args = _parser().parse_args(argv)
    try:
        if args.command == "register":
            answer = registration.register(
                args.url,
                api_conn_id=args.conn_id,
                webhook_conn_id=args.webhook_conn_id,
                ledger_conn_id=args.ledger_conn_id,
                secret_file=args.secret_file,
            )
            print(json.dumps(answer, sort_keys=True))
            return 0
        if args.command == "finish-rotation":
            old = registration.finish_rotation(api_conn_id=args.conn_id, webhook_conn_id=args.webhook_conn_id)
            print(f"Old registration {old or '(none recorded)'} removed; only the current secret is accepted now.")
            return 0
        listed = registration.deliveries(args.id, api_conn_id=args.conn_id, webhook_conn_id=args.webhook_conn_id)
        print(json.dumps(listed))
        return 0
    except IntegraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
