"""The durable outbox: written with the change, delivered after commit, retried, never twice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.utils import timezone

from routing import outbox
from routing.models import OutboxMessage, Ticket


@pytest.fixture
def flaky():
    calls = {"n": 0, "fail": 2}

    def handler(message):
        calls["n"] += 1
        if calls["n"] <= calls["fail"]:
            raise ConnectionError("service down")
        return {"sent": True}

    outbox.register_handler("test.flaky", handler)
    yield calls
    outbox.unregister_handler("test.flaky")


def _due_now():
    OutboxMessage.objects.filter(status="pending").update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))


@pytest.mark.django_db
def test_a_failing_delivery_is_retried_with_backoff_and_delivered_once(flaky):
    # given
    with transaction.atomic():
        outbox.enqueue("test.flaky", {}, key="flaky-1")
    # when the service is down twice, then up
    first = outbox.run_once()
    message = OutboxMessage.objects.get(idempotency_key="flaky-1")
    assert (first.retried, message.status, message.attempts) == (1, "pending", 1)
    assert message.next_attempt_at > timezone.now()  # backed off
    assert "service down" in message.last_error
    assert outbox.run_once().retried == 0  # not due yet
    _due_now()
    outbox.run_once()
    _due_now()
    third = outbox.run_once()
    # then delivered once, and never again
    message.refresh_from_db()
    assert (third.delivered, message.status, message.attempts, message.result) == (1, "done", 3, {"sent": True})
    _due_now()
    assert outbox.run_once().delivered == 0
    assert flaky["n"] == 3


@pytest.mark.django_db
def test_gives_up_after_the_maximum_and_records_the_failure(flaky, settings):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    flaky["fail"] = 99
    with transaction.atomic():
        outbox.enqueue("test.flaky", {}, key="flaky-2")
    outbox.run_once()
    _due_now()
    outbox.run_once()
    message = OutboxMessage.objects.get(idempotency_key="flaky-2")
    assert (message.status, message.attempts) == ("failed", 2)


@pytest.mark.django_db
def test_the_same_key_is_one_message():
    with transaction.atomic():
        a = outbox.enqueue("test.flaky", {"x": 1}, key="same")
        b = outbox.enqueue("test.flaky", {"x": 2}, key="same")
    assert a.pk == b.pk and OutboxMessage.objects.filter(idempotency_key="same").count() == 1


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError):
        outbox.enqueue("test.flaky", {}, key="loose")


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_side_effect(new_ticket):
    # given a registration that fails after its outbox rows were written
    before = OutboxMessage.objects.count()
    with pytest.raises(ZeroDivisionError):
        with transaction.atomic():
            new_ticket()
            1 / 0
    # then neither the ticket nor its messages exist
    assert OutboxMessage.objects.count() == before
    assert not Ticket.objects.exists()


@pytest.mark.django_db
def test_a_crashed_worker_claim_expires_and_another_worker_delivers(flaky):
    flaky["fail"] = 0
    with transaction.atomic():
        outbox.enqueue("test.flaky", {}, key="crash-1")
    # given worker A claimed the row and died before delivering
    claimed = outbox.claim(worker="A", limit=10)
    assert [m.idempotency_key for m in claimed] == ["crash-1"]
    assert outbox.claim(worker="B", limit=10) == []  # still leased to A
    # when the lease runs out
    OutboxMessage.objects.filter(idempotency_key="crash-1").update(claimed_until=timezone.now() - dt.timedelta(seconds=1))
    stats = outbox.run_once(worker="B")
    # then B delivers it, once
    assert stats.delivered == 1 and flaky["n"] == 1
    assert OutboxMessage.objects.get(idempotency_key="crash-1").status == "done"


@pytest.mark.django_db
def test_every_step_queues_its_live_update_and_index_update(ticket_in):
    ticket = ticket_in("accepted")
    kinds = sorted(OutboxMessage.objects.filter(payload__ticket_id=ticket.pk).values_list("kind", flat=True).distinct())
    assert "search.ticket" in kinds
    pushes = OutboxMessage.objects.filter(kind="ws.group", idempotency_key__startswith=f"ws:{ticket.pk}:")
    assert pushes.count() == ticket.events.count()
    assert any(f"department.{ticket.department_id}" in m.payload["groups"] for m in pushes)


@pytest.mark.django_db
def test_registration_and_approved_reply_text_the_citizen(ticket_in):
    ticket = ticket_in("reply_approved")
    templates = sorted(OutboxMessage.objects.filter(kind="citizen.notify", payload__ticket_id=ticket.pk).values_list("payload__template", flat=True))
    assert templates == ["registered", "reply", "survey"]


@pytest.mark.django_db
def test_the_worker_runs_the_sweep_and_registered_jobs(ticket_in):
    from routing import periodic

    ran = []
    periodic.register("test.job", lambda: ran.append(1) or "did it", every_seconds=3600)
    try:
        results = periodic.run_due(force=True)
        again = periodic.run_due()
    finally:
        periodic.unregister("test.job")
    assert results["test.job"] == "did it" and "sweep" in results
    assert "test.job" not in again and ran == [1]
