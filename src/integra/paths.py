"""Where a deployment keeps its campaign files: the ``include/`` folder beside the DAGs folder.

The package may be installed anywhere (site-packages, an image), so nothing is found relative to its
own code. An Airflow project keeps ``dags/`` and ``include/`` side by side; ``INTEGRA_INCLUDE_DIR``
(or the per-kind variables ``INTEGRA_CAMPAIGNS_DIR``, ``INTEGRA_SQL_DIR``, ``INTEGRA_CONTACT_POLICY``)
points elsewhere.
"""

from __future__ import annotations

import os
from pathlib import Path

INCLUDE_ENV = "INTEGRA_INCLUDE_DIR"


def dags_folder() -> Path:
    """Airflow's ``[core] dags_folder``, as every component of the deployment sees it."""
    from airflow.configuration import conf

    return Path(conf.get("core", "dags_folder")).expanduser()


def include_dir() -> Path:
    """``$INTEGRA_INCLUDE_DIR``, else ``include/`` beside the DAGs folder."""
    configured = os.environ.get(INCLUDE_ENV)
    return Path(configured) if configured else dags_folder().resolve().parent / "include"
