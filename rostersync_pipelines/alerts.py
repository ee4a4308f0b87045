"""A failed run, told to a Slack-compatible webhook: the message, and one bounded attempt to post it.

A webhook URL is a bearer credential (whoever holds it can post to the channel), so it never appears in a
message, an exception or a log line: a failed post is described by its status or the kind of error, and
urllib3's own debug lines (which name the request path) are redacted while the post runs. An alert is a
courtesy, not part of the sync: posting is bounded to a few seconds and its failure is returned as one
line for the caller to log, never raised, so the sensor moves on to the next failed run.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import requests

from rostersync_pipelines import http

UI_URL_ENV = "DAGSTER_WEBSERVER_URL"
DEFAULT_UI_URL = "http://127.0.0.1:3000"  # what `make ui` serves
POST_TIMEOUT = (3.0, 5.0)  # connect, read: a webhook answers in well under a second
POST_DEADLINE = 10.0  # every try and wait of one alert together
POST_RETRIES = 2
MAX_ERROR_CHARS = 500  # the whole error stays in the run's logs; the alert says enough to recognise it
SLACK_ERROR_CODE = re.compile(r"[a-z_]{1,40}")  # Slack answers `no_service`, `invalid_payload`, ...


@dataclass(frozen=True)
class RunFailure:
    """What a person needs to recognise a failed run at a glance, and where to read the rest."""

    sync: str
    step: str | None  # None: the run failed before any step ran (launch, config, a cancelled run)
    error: str
    run_id: str
    run_url: str
    # "source": the run succeeded but read a source it could not (missing file, expired key), so it held
    # every destructive change: nothing failed, yet nobody's changes land until a person fixes the source
    kind: str = "run"


def run_url(run_id: str, base: str | None = None) -> str:
    """The run's page in the Dagster UI; DAGSTER_WEBSERVER_URL names the UI when it is not `make ui`'s."""
    root = base or os.environ.get(UI_URL_ENV) or DEFAULT_UI_URL
    return f"{root.rstrip('/')}/runs/{run_id}"


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """The first non-blank line, whitespace collapsed, cut at `limit` characters."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = " ".join(line.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def where(failure: RunFailure) -> str:
    return f"in step {failure.step}" if failure.step else "before any step ran"


def failure_line(failure: RunFailure) -> str:
    """The one line the sensor logs, whether or not a webhook is configured."""
    if failure.kind == "source":
        return (
            f"sync {failure.sync} could not read {failure.step}: {failure.error}; its destructive changes "
            f"are held (run {failure.run_id})"
        )
    return f"sync {failure.sync} failed {where(failure)}: {failure.error} (run {failure.run_id})"


def slack_message(failure: RunFailure) -> dict:
    """Block Kit with a `text` fallback (notifications, and webhooks that only read `text`)."""
    sync, error = _escape(failure.sync), _escape(failure.error)
    step = f"`{_escape(failure.step)}`" if failure.step else "_before any step ran_"
    link = f"<{failure.run_url}|Open run {failure.run_id[:8]} in the Dagster UI>"
    source = failure.kind == "source"
    header = f"Sync {failure.sync} could not read a source" if source else f"Sync {failure.sync} failed"
    return {
        "text": f"RosterSync: {_escape(failure_line(failure))}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": header[:150]}},
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Sync*\n{sync}"},
                    {"type": "mrkdwn", "text": f"*{'Source' if source else 'Failed step'}*\n{step}"},
                ],
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*Error*\n```{error}```"}},
            {"type": "section", "text": {"type": "mrkdwn", "text": link}},
        ],
    }


def _escape(text: str) -> str:
    """Slack's mrkdwn reads &, < and > as markup: an error quoting `<Login>` must show as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def post_message(
    webhook: str, message: dict, session: requests.Session | None = None, sleep=time.sleep
) -> str | None:
    """Post once (retrying throttling and outages within the deadline); None, or what went wrong."""
    if not webhook.startswith(("https://", "http://")):
        return "the alert webhook is not an http(s) URL; set alerts.webhook to the webhook's address"
    own = session is None
    session = session or http.new_session()
    try:
        with _redacted(webhook):
            response = http.request(
                session,
                "POST",
                webhook,
                json=message,
                timeout=POST_TIMEOUT,
                retries=POST_RETRIES,
                deadline=time.monotonic() + POST_DEADLINE,
                allow_redirects=False,  # a webhook that moved is reported, not followed with the message
                sleep=sleep,
            )
            if response.ok:
                return None
            code = response.text.strip()[:40]
            said = f" ({code})" if SLACK_ERROR_CODE.fullmatch(code) else ""
            return f"the alert webhook answered {response.status_code}{said}"
    except requests.Timeout:
        return f"the alert webhook did not answer within {POST_DEADLINE:g} s"
    except (requests.RequestException, ValueError, OSError) as error:
        # requests' messages quote the URL (a credential): say only what kind of failure it was
        return f"the alert webhook could not be reached ({type(error).__name__})"
    finally:
        if own:
            session.close()


class _Redact(logging.Filter):
    def __init__(self, secret: str):
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "<alert webhook>"), ()
        return True


@contextmanager
def _redacted(webhook: str) -> Iterator[None]:
    """urllib3 logs each request's path at DEBUG; a webhook's path is its token."""
    path = "/" + webhook.split("://", 1)[-1].partition("/")[2]
    filters = [_Redact(webhook)] + ([_Redact(path)] if len(path) > 1 else [])
    loggers = [logging.getLogger(name) for name in ("urllib3.connectionpool", "urllib3.util.retry")]
    for logger in loggers:
        for redact in filters:
            logger.addFilter(redact)
    try:
        yield
    finally:
        for logger in loggers:
            for redact in filters:
                logger.removeFilter(redact)
