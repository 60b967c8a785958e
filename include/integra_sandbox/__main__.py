"""``python -m include.integra_sandbox``: same CLI as ``python include/integra_sandbox/server.py``."""

from __future__ import annotations

import sys

from .server import main

sys.exit(main())
