"""Surfaces invalid campaign definitions as Airflow import errors.

`integra_campaigns.py` skips a bad definition so every other campaign keeps running; this file
raises for it, so the problem shows in the UI's import errors with the file, field and fix. The
same for the organisation's contact policy file.
It defines no DAG of its own.
"""

from __future__ import annotations

from integra.definitions import definition_files, load_definition
from integra.exceptions import CampaignDefinitionError
from integra.policy.contact import ContactPolicyError, load_policy

_problems: list[str] = []
try:
    _policy = load_policy()
except ContactPolicyError as _exc:
    _problems.append(f"{_exc} (every campaign DAG is withheld until it is fixed)")
    _policy = None
for _path in definition_files():
    try:
        _definition = load_definition(_path)
        if _policy is not None:
            _definition.check_policy(_policy)
    except CampaignDefinitionError as _exc:
        _problems.append(str(_exc))

if _problems:
    raise CampaignDefinitionError("\n".join(_problems))
