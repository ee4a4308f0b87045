"""A Slack incoming webhook as a WSGI app: it answers as hooks.slack.com does, and remembers what it got.

Slack answers 200 `ok` to a good message, 400 `invalid_payload` to a body that is not JSON with `text` or
`blocks`, 404 `no_service` to a path whose token it does not know; it checks the Block Kit limits a message
of ours could break (header text 150 characters, section text 3000). `fail_next` scripts outages: each
status in it answers one request, before any check.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

BLOCK_TYPES = {"header", "section", "context", "divider", "actions"}


@dataclass
class SlackWebhook:
    path: str  # /services/T…/B…/token: the only path that posts
    fail_next: list[int] = field(default_factory=list)
    received: list[dict] = field(default_factory=list)  # the JSON of every message accepted
    requests: list[dict] = field(default_factory=list)  # method, path, content type, status of every request

    def __call__(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status, text = self._answer(environ, body)
        self.requests.append(
            {
                "method": environ["REQUEST_METHOD"],
                "path": environ["PATH_INFO"],
                "content_type": environ.get("CONTENT_TYPE", ""),
                "status": status,
            }
        )
        start_response(f"{status} {_REASONS[status]}", [("Content-Type", "text/html")])
        return [text.encode()]

    def _answer(self, environ, body: bytes) -> tuple[int, str]:
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, {404: "no_service", 429: "rate_limited"}.get(status, "internal_error")
        if environ["REQUEST_METHOD"] != "POST" or environ["PATH_INFO"] != self.path:
            return 404, "no_service"
        try:
            message = json.loads(body)
        except ValueError:
            return 400, "invalid_payload"
        if not isinstance(message, dict) or not (message.get("text") or message.get("blocks")):
            return 400, "no_text"
        if not _valid_blocks(message.get("blocks", [])):
            return 400, "invalid_blocks"
        self.received.append(message)
        return 200, "ok"


def _valid_blocks(blocks) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for block in blocks:
        if block.get("type") not in BLOCK_TYPES:
            return False
        text = block.get("text") or {}
        if block["type"] == "header" and (
            text.get("type") != "plain_text" or len(text.get("text", "")) > 150
        ):
            return False
        if block["type"] == "section":
            fields = block.get("fields", [])
            if not (text or fields) or len(text.get("text", "")) > 3000 or len(fields) > 10:
                return False
            if any(len(item.get("text", "")) > 2000 for item in fields):
                return False
    return True


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
