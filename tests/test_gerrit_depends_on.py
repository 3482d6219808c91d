"""Depends-On footers: every Gerrit URL form on a configured web-url, the
git driver's PROJECT:REF, and values that name nothing (kept, with why)."""
import pytest

from gateq.drivers.depends_on import GerritChange, GitRef, parse, parse_value

WEB = {"review": "https://review.example.org", "internal": "http://gerrit.corp:8080/r"}


@pytest.mark.parametrize("value, expected", [
    ("https://review.example.org/c/openstack/nova/+/123", GerritChange("review", 123, "openstack/nova")),
    ("https://review.example.org/c/nova/+/123/", GerritChange("review", 123, "nova")),
    ("https://review.example.org/c/nova/+/123/4", GerritChange("review", 123, "nova")),
    ("https://review.example.org/c/nova/+/123/4/nova/api.py", GerritChange("review", 123, "nova")),
    ("https://review.example.org/#/c/124/", GerritChange("review", 124)),
    ("https://review.example.org/#/c/124", GerritChange("review", 124)),
    ("https://review.example.org/#/c/124/2", GerritChange("review", 124)),
    ("https://review.example.org/125", GerritChange("review", 125)),
    ("https://review.example.org/125/", GerritChange("review", 125)),
    ("https://review.example.org/c/126", GerritChange("review", 126)),
    ("https://REVIEW.example.org/127", GerritChange("review", 127)),
    ("http://review.example.org/128", GerritChange("review", 128)),
    ("https://review.example.org/c/nova/+/129?tab=comments", GerritChange("review", 129, "nova")),
    ("http://gerrit.corp:8080/r/c/tools/+/7", GerritChange("internal", 7, "tools")),
    ("http://gerrit.corp:8080/r/#/c/8/", GerritChange("internal", 8)),
    ("http://gerrit.corp:8080/r/9", GerritChange("internal", 9)),
    ("nova:fix-1", GitRef("nova", "fix-1")),
    ("openstack/nova:refs/heads/feature/x", GitRef("openstack/nova", "refs/heads/feature/x")),
])
def test_recognised_forms(value, expected):
    assert parse_value(value, WEB) == expected


@pytest.mark.parametrize("value, reason", [
    ("https://elsewhere.org/c/nova/+/1", "no gerrit connection has the web-url https://elsewhere.org"),
    ("http://gerrit.corp/r/9", "no gerrit connection has the web-url http://gerrit.corp"),
    ("https://review.example.org/c/nova/+/abc", "not a change URL of https://review.example.org"),
    ("https://review.example.org/c/nova/+/0", "not a change URL"),
    ("https://review.example.org/", "not a change URL"),
    ("https://review.example.org/dashboard/self", "not a change URL"),
    ("http://gerrit.corp:8080/other/9", "not a change URL of http://gerrit.corp:8080/r"),
    ("ftp://review.example.org/123", "no gerrit connection"),
    ("I" + "0" * 40, "a Change-Id does not say which server or project"),
    ("just some words", "expected a change URL or PROJECT:REF"),
    ("nova:", "expected a change URL or PROJECT:REF"),
    ("a:b:c", "expected a change URL or PROJECT:REF"),
    ("", "empty Depends-On"),
])
def test_values_that_name_nothing_say_why(value, reason):
    found = parse_value(value, WEB)
    assert found.value == value and reason in found.reason


def test_a_message_with_several_footers_in_order_each_once():
    message = """Make nova use the new API

Depends-On: https://review.example.org/c/glance/+/10
Body text mentioning Depends-On: in passing is not a footer line.
depends-on:   https://review.example.org/11
Depends-On: https://review.example.org/c/glance/+/10/3
Depends-On: glance:fix-2
Depends-On: garbage
Change-Id: I0123456789abcdef0123456789abcdef01234567
"""
    result = parse(message, WEB)
    assert result.references == (GerritChange("review", 10, "glance"), GerritChange("review", 11),
                                 GitRef("glance", "fix-2"))
    assert [u.value for u in result.unrecognised] == ["garbage"]


def test_no_footers_and_no_connections():
    assert parse("Just a fix\n\nChange-Id: I" + "1" * 40 + "\n", WEB).references == ()
    [unknown] = parse("x\n\nDepends-On: https://review.example.org/1\n", {}).unrecognised
    assert "no gerrit connection" in unknown.reason
