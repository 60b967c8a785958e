"""The "Integra campaign" button on a create-campaign task: straight to the campaign in the panel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperatorLink, BaseXCom

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator
    from airflow.sdk.types import TaskInstanceKey


class IntegraCampaignLink(BaseOperatorLink):
    """Reads the panel URL the operator pushed to XCom when the campaign was created or reused."""

    name = "Integra campaign"

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        value: Any = BaseXCom.get_value(ti_key=ti_key, key=self.xcom_key)  # type: ignore[arg-type]
        return str(value) if value else ""
