"""Local sandbox of the Integra API, so demos and tests never need the real (billable, non-idempotent) one."""

from __future__ import annotations

from .server import SandboxServer, SandboxState, validate_campaign

__all__ = ["SandboxServer", "SandboxState", "validate_campaign"]
