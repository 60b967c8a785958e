"""Integra outbound call campaigns for Apache Airflow 3.

Kept free of heavy imports: DAG files import this package at parse time.
"""

from __future__ import annotations

__all__ = ["__version__"]
__version__ = "0.2.0"
