"""An HR system's export URL as a WSGI app: files behind Basic auth, with ETag / Last-Modified validators.

It answers conditional GETs as RFC 9110 §13 says: `If-None-Match` (weak comparison, a list or `*`) decides
alone when present, else `If-Modified-Since` (whole seconds, an unparsable date is ignored); a 304 has no
body and repeats the ETag. Knobs: whether validators are sent at all, whether conditionals are honoured
(many export endpoints ignore them and always answer 200), and the clock that stamps a new version.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime


@dataclass
class Export:
    body: bytes
    content_type: str
    modified: dt.datetime

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


@dataclass
class FileServer:
    username: str = "sync-bot"
    password: str = "s3cret-Pa55"
    send_etag: bool = True
    send_last_modified: bool = True
    honour_conditionals: bool = True
    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.UTC))
    files: dict[str, Export] = field(default_factory=dict)
    requests: list[dict] = field(default_factory=list)  # method, path, the conditional headers, status

    def put(self, path: str, body: bytes, content_type: str = "text/csv; charset=utf-8") -> None:
        """A new version of an export; the clock moves on a minute, so Last-Modified moves too."""
        self.now += dt.timedelta(minutes=1)
        self.files[path] = Export(body, content_type, self.now)

    def __call__(self, environ, start_response):
        path = environ["PATH_INFO"]
        record = {
            "method": environ["REQUEST_METHOD"],
            "path": path,
            "if_none_match": environ.get("HTTP_IF_NONE_MATCH"),
            "if_modified_since": environ.get("HTTP_IF_MODIFIED_SINCE"),
        }
        self.requests.append(record)
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if environ.get("HTTP_AUTHORIZATION") != expected:
            return self._answer(
                start_response,
                record,
                "401 Unauthorized",
                b"login required",
                "text/plain",
                [("WWW-Authenticate", 'Basic realm="hr"')],
            )
        export = self.files.get(path)
        if export is None:
            return self._answer(start_response, record, "404 Not Found", b"no such export", "text/plain")
        validators = []
        if self.send_etag:
            validators.append(("ETag", export.etag))
        if self.send_last_modified:
            validators.append(("Last-Modified", format_datetime(export.modified, usegmt=True)))
        if self.honour_conditionals and self._not_modified(environ, export):
            etag_only = [header for header in validators if header[0] == "ETag"] or validators
            record["status"] = 304
            start_response("304 Not Modified", etag_only)
            return [b""]
        body = b"" if environ["REQUEST_METHOD"] == "HEAD" else export.body
        return self._answer(start_response, record, "200 OK", body, export.content_type, validators)

    def _not_modified(self, environ, export: Export) -> bool:
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return False
        if_none_match = environ.get("HTTP_IF_NONE_MATCH")
        if if_none_match is not None:
            if not self.send_etag:
                return False
            tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
            return "*" in tags or export.etag in tags
        if_modified_since = environ.get("HTTP_IF_MODIFIED_SINCE")
        if if_modified_since is None or not self.send_last_modified:
            return False
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return export.modified.replace(microsecond=0) <= since

    @staticmethod
    def _answer(start_response, record, status, body, content_type, headers=()):
        record["status"] = int(status.split()[0])
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers])
        return [body]
