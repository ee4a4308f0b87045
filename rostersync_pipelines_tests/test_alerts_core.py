"""The alert itself, without Dagster: the Slack message, and one bounded post through the project's client.

Posts go to a fake hooks.slack.com behind the fake internet (HTTPS_PROXY and a private CA), so each test
exercises the real requests session, TLS and retries of rostersync_pipelines.http.
"""

from __future__ import annotations

import json
import socket
import time

import pytest

from rostersync_pipelines import alerts
from rostersync_pipelines_tests.alert_fixtures import HOOK_PATH, TOKEN, WEBHOOK, slack_webhook


@pytest.fixture
def slack(monkeypatch):
    with slack_webhook(monkeypatch) as hook:
        yield hook


FAILURE = alerts.RunFailure(
    sync="employees",
    step="employees__source_users",
    error="mapped column 'Title' is missing; columns present: <Login> & co",
    run_id="0123456789abcdef",
    run_url="http://127.0.0.1:3000/runs/0123456789abcdef",
)


def test_an_outage_is_retried_then_posted(slack):
    slack.fail_next = [500, 503]
    assert alerts.post_message(WEBHOOK, alerts.slack_message(FAILURE), sleep=lambda _seconds: None) is None
    assert [request["status"] for request in slack.requests] == [500, 503, 200]
    assert len(slack.received) == 1


def test_an_outage_that_lasts_is_one_line_and_does_not_raise(slack):
    slack.fail_next = [500] * 10
    problem = alerts.post_message(WEBHOOK, alerts.slack_message(FAILURE), sleep=lambda _seconds: None)
    assert problem == "the alert webhook answered 500 (internal_error)"
    assert len(slack.requests) == 1 + alerts.POST_RETRIES, "bounded: a few tries, then move on"


def test_an_unreachable_webhook_is_named_by_the_kind_of_error_only(slack):
    webhook = f"https://hooks.unknown.example{HOOK_PATH}"  # the proxy cannot reach it (502 to CONNECT)
    started = time.monotonic()
    problem = alerts.post_message(webhook, alerts.slack_message(FAILURE), sleep=lambda _seconds: None)
    assert problem == "the alert webhook could not be reached (ProxyError)"
    assert time.monotonic() - started < alerts.POST_DEADLINE


def test_a_webhook_that_never_answers_is_given_up_within_the_deadline(monkeypatch):
    monkeypatch.setattr(alerts, "POST_TIMEOUT", (1.0, 0.3))
    monkeypatch.setattr(alerts, "POST_DEADLINE", 1.0)
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connects (the kernel's backlog), never answers
        webhook = f"http://127.0.0.1:{silent.getsockname()[1]}{HOOK_PATH}"
        started = time.monotonic()
        problem = alerts.post_message(webhook, alerts.slack_message(FAILURE))
        took = time.monotonic() - started
    assert problem == "the alert webhook did not answer within 1 s"
    assert took < 2.5


def test_a_value_that_is_not_a_url_is_refused_without_quoting_it():
    problem = alerts.post_message(TOKEN, alerts.slack_message(FAILURE))
    assert problem is not None and TOKEN not in problem


def test_the_message_escapes_markup_and_keeps_slack_limits():
    message = alerts.slack_message(FAILURE)
    assert "&lt;Login&gt; &amp; co" in message["blocks"][2]["text"]["text"]
    assert "<Login>" not in json.dumps(message)
    long = alerts.RunFailure(
        "x" * 400, None, alerts.one_line("boom\n" + "y" * 10), "r" * 36, "http://ui/runs/r"
    )
    long_message = alerts.slack_message(long)
    assert len(long_message["blocks"][0]["text"]["text"]) == 150
    assert long_message["blocks"][1]["fields"][1]["text"] == "*Failed step*\n_before any step ran_"
    assert alerts.failure_line(long).startswith(
        "sync " + "x" * 400 + " failed before any step ran: boom (run r"
    )


def test_one_line_and_the_run_link(monkeypatch):
    assert alerts.one_line("\n  first   line \nsecond") == "first line"
    assert alerts.one_line("z" * 600) == "z" * (alerts.MAX_ERROR_CHARS - 1) + "…"
    monkeypatch.delenv(alerts.UI_URL_ENV, raising=False)
    assert alerts.run_url("abc") == "http://127.0.0.1:3000/runs/abc"
    monkeypatch.setenv(alerts.UI_URL_ENV, "https://ui.example/prefix/")
    assert alerts.run_url("abc") == "https://ui.example/prefix/runs/abc"
