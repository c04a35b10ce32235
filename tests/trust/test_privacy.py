"""Privacy (DOMAIN.md): masked contact for departments, logged reveals, confidential tickets,
phone look-ups without phone numbers in logs or queries, retention and one citizen's export."""

from __future__ import annotations

import io
import json
import logging
import os
import stat
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing import actions, kpis, privacy
from routing.intake import register_ticket
from routing.models import Citizen, Ticket, TicketEvent, phone_digest
from routing.roles import SYSTEM
from services.public.forms import new_form_token
from tests.trust.conftest import CITIZEN_NAME, CITIZEN_PHONE, MARKER, intake

E164 = "+86" + CITIZEN_PHONE
OUR_LOGGERS = ("routing", "services", "knowledge", "hotline", "frontend")


# --- masking and reveals --------------------------------------------------------------
@pytest.mark.parametrize("role", ["dept_own", "dept_assist"])
@pytest.mark.parametrize("path", ["/api/v1/tickets/{number}/", "/api/v1/tickets/", "/api/v1/queues/mine/", "/tickets/{number}/", "/department/queue/"])
def test_department_staff_see_the_contact_masked(role, path, world, client_for):
    # when
    response = client_for(role).get(path.format(number=world.number))

    # then
    assert response.status_code == 200
    body = response.content.decode()
    assert world.number in body
    assert CITIZEN_PHONE not in body and CITIZEN_NAME not in body
    assert "139****5678" in body and "欧***" in body


@pytest.mark.parametrize("role", ["agent", "dispatcher", "supervisor"])
def test_hotline_staff_see_the_contact(role, world, client_for):
    citizen = client_for(role).get(f"/api/v1/tickets/{world.number}/").json()["citizen"]
    assert citizen == {"name": CITIZEN_NAME, "phone": CITIZEN_PHONE, "anonymous": False, "masked": False}


def test_a_reveal_needs_a_reason_and_writes_nothing_without_one(world, client_for):
    before = TicketEvent.objects.filter(ticket=world.ticket).count()
    response = client_for("dept_own").post(f"/api/v1/tickets/{world.number}/reveal/", {"reason": "  "}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert CITIZEN_PHONE not in response.content.decode()
    assert TicketEvent.objects.filter(ticket=world.ticket).count() == before


def test_a_reveal_is_an_event_with_who_and_why(world, client_for, cast):
    # when
    response = client_for("dept_own").post(f"/api/v1/tickets/{world.number}/reveal/", {"reason": "需电话约定上门时间"}, format="json")

    # then: the contact, and exactly one event naming the user and the reason
    assert response.status_code == 200
    assert response.json() == {"name": CITIZEN_NAME, "phone": CITIZEN_PHONE}
    event = TicketEvent.objects.get(ticket=world.ticket, kind="ticket.contact_revealed")
    assert event.actor == cast["dept_own"]
    assert event.data == {"reason": "需电话约定上门时间"}
    assert event.public is False
    # the supervisor sees the reveal on the timeline
    kinds = [e["kind"] for e in client_for("supervisor").get(f"/api/v1/tickets/{world.number}/events/").json()]
    assert "ticket.contact_revealed" in kinds
    # and the ticket itself stays masked for the department
    assert client_for("dept_own").get(f"/api/v1/tickets/{world.number}/").json()["citizen"]["masked"] is True


# --- confidential tickets -----------------------------------------------------------------
@pytest.fixture
def confidential(cast, departments, new_ticket):
    ticket = new_ticket(confidential=True, citizen_phone="13811112222", citizen_name="司马保密")
    ticket = actions.dispatch_ticket(ticket, department=departments["own"], by=cast["dispatcher"])
    # a reveal by the hotline, before the department has it
    actions.reveal_contact(ticket, reason="回访前核对号码", by=cast["agent"])
    return ticket


def test_a_confidential_ticket_hides_the_citizen_from_the_department(confidential, client_for):
    client = client_for("dept_own")
    detail = client.get(f"/api/v1/tickets/{confidential.number}/")
    assert detail.json()["citizen"] == {"name": "", "phone": "", "anonymous": False, "masked": True, "confidential": True}
    for path in (
        f"/api/v1/tickets/{confidential.number}/", f"/api/v1/tickets/{confidential.number}/events/", "/api/v1/tickets/", "/api/v1/queues/mine/",
        f"/tickets/{confidential.number}/", "/department/queue/", "/department/",
    ):  # fmt: skip
        body = client.get(path).content.decode()
        assert "13811112222" not in body and "司马" not in body and "1381" not in body, path


def test_a_confidential_ticket_refuses_the_department_a_reveal(confidential, client_for):
    before = TicketEvent.objects.filter(ticket=confidential).count()
    response = client_for("dept_own").post(f"/api/v1/tickets/{confidential.number}/reveal/", {"reason": "想联系"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "confidential"
    assert "13811112222" not in response.content.decode()
    assert TicketEvent.objects.filter(ticket=confidential).count() == before


def test_the_department_timeline_of_a_confidential_ticket_leaves_out_reveals(confidential, client_for, cast):
    actions.record_listened(confidential, recording="RE" + "0" * 32, by=cast["supervisor"])  # someone heard the citizen's voicemail
    department_kinds = [e["kind"] for e in client_for("dept_own").get(f"/api/v1/tickets/{confidential.number}/events/").json()]
    hotline_kinds = [e["kind"] for e in client_for("dispatcher").get(f"/api/v1/tickets/{confidential.number}/events/").json()]
    assert {"ticket.contact_revealed", "ticket.recording_played"} <= set(hotline_kinds)
    assert not {"ticket.contact_revealed", "ticket.recording_played"} & set(department_kinds)


def test_the_department_timeline_of_a_confidential_ticket_hides_what_the_citizen_said(confidential, client_for):
    # given: the chat transcript of a confidential ticket, where the citizen gave their number
    actions.add_note(confidential, kind="ticket.chat_transcript", text="[10:01:02] 市民：我叫司马保密，电话13811112222，请不要告诉物业", by=SYSTEM)

    # when
    client = client_for("dept_own")
    bodies = {path: client.get(path).content.decode() for path in (f"/api/v1/tickets/{confidential.number}/events/", f"/tickets/{confidential.number}/")}

    # then
    for path, body in bodies.items():
        assert "13811112222" not in body and "司马保密" not in body, path


# --- phone look-ups: digests in queries, no numbers in logs -------------------------------
def _phone_in(text: str) -> bool:
    return CITIZEN_PHONE in text or CITIZEN_PHONE[3:] in text


@pytest.fixture
def log_everything_we_write(caplog):
    """Our own loggers at DEBUG; third-party loggers at the level production runs (LOG_LEVEL, INFO)."""
    for name in OUR_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def _lookups(queries) -> list[str]:
    """Every statement that reads or deletes by a value (storing the number itself is fine)."""
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "DELETE", "UPDATE"))]


def _assert_clean(caplog, queries, what: str) -> None:
    leaked_logs = [r.getMessage() for r in caplog.records if _phone_in(r.getMessage())]
    assert not leaked_logs, f"{what}: the phone number is in the logs: {leaked_logs}"
    leaked_sql = [sql for sql in _lookups(queries) if _phone_in(sql)]
    assert not leaked_sql, f"{what}: the phone number is a query parameter: {leaked_sql}"


def test_registering_by_api_looks_the_citizen_up_by_digest_only(log_everything_we_write, world, client_for):
    # given: the citizen is known (the world ticket)
    client = client_for("agent")
    body = {"channel": "phone", "type": "help", "description": "又一次反映路灯问题", "citizen": {"name": "", "phone": f"+86 139-1234-5678"}}

    # when
    with CaptureQueriesContext(connection) as queries:
        response = client.post("/api/v1/tickets/", body, format="json")

    # then: the same citizen, found by the digest, and no number in any look-up or log line
    assert response.status_code == 201, response.content
    assert Ticket.objects.get(number=response.json()["number"]).citizen_id == world.ticket.citizen_id
    citizen_reads = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and '"routing_citizen"' in q["sql"].split("WHERE")[0]]
    assert any(phone_digest(CITIZEN_PHONE) in sql for sql in citizen_reads), citizen_reads
    _assert_clean(log_everything_we_write, queries.captured_queries, "API intake")


def test_the_web_form_and_tracking_keep_the_number_out_of_logs_and_look_ups(log_everything_we_write, world, places):
    client = Client()
    form = {
        "form_token": new_form_token(), "type": "complaint", "category": "", "description": "路灯又坏了", "address": "", "lat": "", "lng": "",
        "name": "", "phone": CITIZEN_PHONE, "homepage": "",
    }  # fmt: skip
    with CaptureQueriesContext(connection) as queries:
        registered = client.post("/report/", form)
        tracked = client.get("/api/v1/public/track/", {"number": world.number, "phone": CITIZEN_PHONE})
        wrong = client.get("/api/v1/public/track/", {"number": world.number, "phone": "13000000000"})
    assert registered.status_code == 200, registered.content.decode()[:500]
    assert tracked.status_code == 200 and wrong.status_code == 404
    assert Ticket.objects.filter(citizen_id=world.ticket.citizen_id).count() == 2
    _assert_clean(log_everything_we_write, queries.captured_queries, "web form and tracking")


def test_searching_tickets_by_phone_keeps_the_number_out_of_logs_and_queries(log_everything_we_write, world, client_for, drain):
    from knowledge import search

    search.delete_all()
    try:
        drain()
        search.refresh()
        with CaptureQueriesContext(connection) as queries:
            response = client_for("agent").get("/api/v1/knowledge/tickets/", {"phone": CITIZEN_PHONE})
            suggested = client_for("agent").post("/api/v1/knowledge/suggest/", {"text": "路灯", "phone": CITIZEN_PHONE}, format="json")
        assert response.status_code == 200 and suggested.status_code == 200
        _assert_clean(log_everything_we_write, queries.captured_queries, "ticket search by phone")
    finally:
        search.delete_all()


def test_department_staff_cannot_guess_a_masked_phone_by_searching(world, confidential, client_for, drain):
    """The masked ``139****5678`` leaves 10⁴ guesses; a look-up by phone answers none of them for a department."""
    from knowledge import search

    search.delete_all()
    try:
        drain()
        search.refresh()
        client = client_for("dept_own")
        before = TicketEvent.objects.count()
        for phone in (CITIZEN_PHONE, "13811112222", "13900005678"):  # the right ones among the guesses, a confidential one too
            listed = client.get("/api/v1/knowledge/tickets/", {"phone": phone})
            suggested = client.post("/api/v1/knowledge/suggest/", {"text": "路灯", "phone": phone}, format="json")
            for response in (listed, suggested):
                assert response.status_code == 403, (phone, response.status_code)
                assert response.json()["error"]["code"] == "forbidden_role"
                assert world.number not in response.content.decode() and confidential.number not in response.content.decode()
        assert TicketEvent.objects.count() == before  # nothing was revealed, so nothing to log
        # the hotline still finds the caller's tickets by number
        found = client_for("agent").get("/api/v1/knowledge/tickets/", {"phone": CITIZEN_PHONE}).json()["results"]
        assert world.number in [hit["number"] for hit in found]
    finally:
        search.delete_all()


# --- retention ----------------------------------------------------------------------------
@pytest.fixture
def aged(cast, departments, new_ticket):
    """Citizens in every situation the retention rule distinguishes."""
    long_ago = timezone.now() - timedelta(days=4 * 365)
    recently = timezone.now() - timedelta(days=30)

    def closed(ticket, at):
        ticket = actions.resolve_ticket(ticket, answer="已答复", by=cast["agent"])
        Ticket.objects.filter(pk=ticket.pk).update(closed_at=at, registered_at=at - timedelta(days=3))
        return ticket

    old = closed(new_ticket(citizen_phone="13500000001", citizen_name="旧市民"), long_ago)
    recent = closed(new_ticket(citizen_phone="13500000002", citizen_name="近市民"), recently)
    still_open = new_ticket(citizen_phone="13500000003", citizen_name="在办市民")
    Ticket.objects.filter(pk=still_open.pk).update(registered_at=long_ago)
    returning_old = closed(new_ticket(citizen_phone="13500000004", citizen_name="回头市民"), long_ago)
    returning_new = new_ticket(citizen_phone="13500000004")
    return {"old": old, "recent": recent, "open": still_open, "returning": returning_new, "returning_old": returning_old}


def test_retention_anonymises_only_citizens_whose_every_ticket_finished_long_ago(aged):
    # given
    old_citizen = aged["old"].citizen
    events_before = TicketEvent.objects.count()
    kpis_before = kpis.compute(start=timezone.localdate() - timedelta(days=5 * 365), end=timezone.localdate(), by="category")

    # when
    out = io.StringIO()
    call_command("anonymize_citizens", stdout=out)

    # then: the old citizen is blank, with no digest left to find them by
    old_citizen.refresh_from_db()
    assert (old_citizen.name, old_citizen.phone, old_citizen.phone_digest) == ("", "", None)
    assert old_citizen.anonymized_at is not None
    assert out.getvalue().startswith("1 citizens anonymised")
    # everyone else is untouched
    for key in ("recent", "open", "returning"):
        citizen = Citizen.objects.get(pk=aged[key].citizen_id)
        assert citizen.anonymized_at is None and citizen.phone and citizen.phone_digest, key
    # the ticket, its timeline and the statistics stay; no event was written
    ticket = Ticket.objects.get(pk=aged["old"].pk)
    assert ticket.citizen_id == old_citizen.pk and ticket.description == aged["old"].description
    assert TicketEvent.objects.count() == events_before
    assert kpis.compute(start=timezone.localdate() - timedelta(days=5 * 365), end=timezone.localdate(), by="category") == kpis_before
    # and the department API shows an empty contact, no crash
    assert privacy.find_citizen("13500000001") is None


def test_retention_is_idempotent_and_has_a_dry_run(aged):
    out = io.StringIO()
    call_command("anonymize_citizens", "--dry-run", stdout=out)
    assert out.getvalue().startswith("1 citizens would be anonymised")
    assert Citizen.objects.filter(anonymized_at__isnull=False).count() == 0
    call_command("anonymize_citizens", stdout=io.StringIO())
    out = io.StringIO()
    call_command("anonymize_citizens", stdout=out)
    assert out.getvalue().startswith("0 citizens anonymised")


def test_retention_period_is_configurable(aged, settings):
    settings.CITIZEN_RETENTION_DAYS = 10
    call_command("anonymize_citizens", stdout=io.StringIO())
    assert not Citizen.objects.get(pk=aged["recent"].citizen_id).phone
    assert Citizen.objects.get(pk=aged["open"].citizen_id).phone


def test_a_caller_after_anonymisation_is_a_new_citizen(aged, cast):
    old_citizen_id = aged["old"].citizen_id
    call_command("anonymize_citizens", stdout=io.StringIO())
    ticket = register_ticket(intake(citizen_phone="13500000001", citizen_name="旧市民"), by=cast["agent"]).ticket
    assert ticket.citizen_id != old_citizen_id
    assert ticket.citizen.phone == "13500000001"


def test_retention_asks_every_registered_holder_to_forget_the_citizen(aged):
    calls = []
    holder = privacy.PersonalDataHolder("trust.test", anonymize=lambda c: calls.append(("anonymize", c.phone)) or 3, export=lambda c: [])
    privacy.register_holder(holder)
    try:
        report = privacy.anonymize_expired()
    finally:
        privacy.unregister_holder("trust.test")
    assert calls == [("anonymize", "13500000001")]  # called with the contact still there
    assert report.rows["trust.test"] == 3 and report.rows["citizen"] == 1
    # the channels' own holders were asked too (this citizen has no calls, texts or chats)
    assert {"telephony.calls", "telephony.sms", "public.chats", "public.open311"} <= set(report.rows)


# --- export ----------------------------------------------------------------------------------
def test_export_of_one_citizen_holds_their_tickets_and_public_timeline(world, cast, log_everything_we_write):
    # given: an internal note the export must not carry
    actions.add_note(world.ticket, text="内部：该市民多次来电", by=cast["dispatcher"])

    # when
    out = io.StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("export_citizen", "--phone", "+86 139 1234 5678", stdout=out)

    # then
    data = json.loads(out.getvalue())
    assert data["citizen"]["name"] == CITIZEN_NAME and data["citizen"]["phone"] == CITIZEN_PHONE
    assert [t["number"] for t in data["tickets"]] == [world.number]
    ticket = data["tickets"][0]
    assert MARKER in ticket["description"]
    assert [step["kind"] for step in ticket["timeline"]] == ["ticket.registered", "ticket.dispatched"]
    assert "内部" not in out.getvalue()
    assert not [sql for sql in _lookups(queries.captured_queries) if _phone_in(sql)]
    assert not [r for r in log_everything_we_write.records if _phone_in(r.getMessage())]


def test_export_to_a_file_is_private_and_unknown_phones_are_an_error(world, tmp_path):
    target = tmp_path / "export.json"
    call_command("export_citizen", "--phone", CITIZEN_PHONE, "--output", str(target), stderr=io.StringIO())
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert json.loads(target.read_text(encoding="utf-8"))["tickets"][0]["number"] == world.number
    with pytest.raises(CommandError):
        call_command("export_citizen", "--phone", "13000000000", stdout=io.StringIO())


def test_export_reads_the_phone_from_stdin(world, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(CITIZEN_PHONE + "\n"))
    out = io.StringIO()
    call_command("export_citizen", "--phone", "-", stdout=out)
    assert json.loads(out.getvalue())["tickets"][0]["number"] == world.number


# --- issue 15 item 11: the loser of a race for a new citizen --------------------------------------
def _postgres_log():
    from pathlib import Path

    assert connection.vendor == "postgresql", "the suite runs on PostgreSQL (deploy/run-tests.sh)"
    log = Path(__file__).resolve().parents[2] / "var" / "postgres" / "postgresql.log"
    assert log.exists(), f"{log} is missing: the suite's PostgreSQL (deploy/postgres.sh, started by deploy/run-tests.sh) writes it"
    return log


@pytest.mark.django_db(transaction=True)
def test_a_race_for_a_new_citizen_writes_no_personal_data_to_the_postgres_log():
    from routing.intake import find_or_create_citizen, insert_citizen

    # given: the citizen was just created by a concurrent registration
    log = _postgres_log()
    before = log.stat().st_size
    phone, name = "13955550011", "欧阳竞态"
    first = find_or_create_citizen(phone=phone, name=name)

    # when: the other registration, which also found no one a moment ago, inserts too
    second = insert_citizen(phone=phone, digest=phone_digest(phone), name=name)

    # then: both have the one citizen, and the server logged no failed INSERT with the name and phone
    assert first.pk == second.pk and Citizen.objects.filter(phone_digest=phone_digest(phone)).count() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")  # the server has written whatever it would have written by now
    written = log.read_bytes()[before:].decode("utf-8", "replace")
    assert phone not in written and name not in written and "phone_digest" not in written, written[-2000:]
