"""The citizen portal on a phone-size screen: submit the web form, get a number, track it."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.browser


def test_citizen_submits_a_request_and_tracks_it_on_a_phone(pages, hotline_server, shot):
    # given: a citizen on a phone at the home page
    page = pages.open(phone=True)
    page.goto(hotline_server.url + "/")
    shot(page, "citizen-home-phone")

    # when: they follow the link to the web form and submit it
    page.click("a.portal-link[href='/report/']")
    page.wait_for_selector("#report-form")
    page.select_option("#id_type", "complaint")
    page.fill("#id_description", "楼下烧烤店每天营业到凌晨两点，油烟和噪音很大，影响休息。")
    page.fill("#id_address", "示范市东城区东华街道幸福路 8 号")
    page.fill("#id_name", "周女士")
    page.fill("#id_phone", "13911112222")
    shot(page, "citizen-report-phone")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    page.click("#report-submit")

    # then: a ticket number, and the tracking page finds it with the phone
    number = page.locator("#ticket-number").inner_text().strip()
    assert re.fullmatch(r"\d{8}-\d{6}", number), number
    shot(page, "citizen-report-done-phone")
    page.goto(hotline_server.url + "/track/")
    page.fill("#id_number", number)
    page.fill("#id_phone", "13911112222")
    page.click("#track-form button[type=submit]")
    view = page.locator("#ticket-view")
    view.wait_for()
    assert number in view.inner_text()
    assert "楼下烧烤店每天营业到凌晨两点" in view.inner_text()
    shot(page, "citizen-track-phone")
    # the page fits a phone: nothing scrolls sideways
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
    assert not pages.dialogs and not pages.errors


def test_tracking_with_the_wrong_phone_finds_nothing(pages, hotline_server):
    page = pages.open(phone=True)
    number = hotline_server.sql("select number from routing_ticket order by id limit 1")[0][0]
    page.goto(hotline_server.url + "/track/")
    page.fill("#id_number", number)
    page.fill("#id_phone", "13000000009")
    page.click("#track-form button[type=submit]")
    assert page.locator("#track-error").is_visible()
    assert page.locator("#ticket-view").count() == 0
