"""接通率 in the KPI report comes from the call records."""

from __future__ import annotations

import pytest

from routing import kpis
from services.telephony.models import CallRecord


@pytest.mark.django_db
def test_answer_rate_counts_answered_inbound_calls():
    CallRecord.objects.create(call_sid="CA1", direction="inbound", answered=True)
    CallRecord.objects.create(call_sid="CA2", direction="inbound", answered=False)
    CallRecord.objects.create(call_sid="CA3", direction="inbound", answered=True)
    CallRecord.objects.create(call_sid="CA4", direction="outbound-api", answered=True)
    assert kpis.compute()["totals"]["answer_rate"] == {"value": 0.6667, "numerator": 2, "denominator": 3}
