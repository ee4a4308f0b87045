"""The change check of file sources, for the changes sensor (DESIGN §1.5): asked cheaply, never a download.

A local file answers by its size and modification time; a URL by a conditional GET on the ETag /
Last-Modified its last read kept (304 = unchanged), so the roster itself is not fetched to find out.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from urllib.parse import urlsplit

import requests

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources import Change
from rostersync_pipelines.sources.files import TIMEOUT_SECONDS, _basic_auth, _display, response_validators


def changed(spec, context, cursor: str | None) -> Change:
    """A local file by its size and modification time; a URL by a conditional GET on its ETag /
    Last-Modified (304 = unchanged), so the roster itself is not downloaded to find out."""
    path = context.config.resolve_path(spec.path)
    shown = _display(path)
    if urlsplit(path).scheme.lower() in ("http", "https"):
        return _url_change(path, shown, spec, context, cursor)
    return _local_change(path, shown, cursor)


def _local_change(path: str, shown: str, cursor: str | None) -> Change:
    try:
        stat = Path(path).expanduser().stat()
    except OSError as error:
        reason = "file not found" if isinstance(error, FileNotFoundError) else error.strerror or str(error)
        raise SourceError(f"cannot read {shown}: {reason}") from error
    seen = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    now = json.dumps(seen, sort_keys=True)
    stamp = dt.datetime.fromtimestamp(stat.st_mtime_ns / 1e9, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    if cursor is None:
        return Change(True, now, f"{shown}: first look (modified {stamp})")
    if _loads(cursor) == seen:
        return Change(False, now, f"{shown} unchanged since {stamp}")
    return Change(True, now, f"{shown} changed (modified {stamp}, {stat.st_size} bytes)")


def _url_change(url: str, shown: str, spec, context, cursor: str | None) -> Change:
    """Before the sensor's first look, the validators the last sync read kept are the baseline."""
    known = _loads(cursor) if cursor is not None else {}
    if not known and context.cursors is not None:
        known = {name: context.cursors.get(name) for name in ("etag", "last_modified")}
    known = {name: known.get(name) for name in _NAMES if known.get(name)}
    headers = {}
    if known.get("etag"):
        headers["If-None-Match"] = known["etag"]
    if known.get("last_modified"):
        headers["If-Modified-Since"] = known["last_modified"]
    auth = _basic_auth(spec.username, spec.password)
    client = context.session if context.session is not None else http.new_session()
    try:
        response = http.request(
            client,
            "GET",
            url,
            auth=auth,
            headers=headers,
            timeout=TIMEOUT_SECONDS,
            stream=True,
            deadline=context.deadline,
        )
        response.close()  # only the status and headers are wanted, never the body
    except requests.RequestException as error:
        raise SourceError(f"cannot check {shown}: {type(error).__name__}") from error
    finally:
        if context.session is None:
            client.close()
    if response.status_code == 304:
        seen = known | {name: value for name, value in response_validators(response).items() if value}
        return Change(False, json.dumps(seen, sort_keys=True), f"{shown} unchanged (HTTP 304 Not Modified)")
    if not 200 <= response.status_code < 300:
        hint = " (check the username and password)" if response.status_code in (401, 403) else ""
        reason = f"{response.status_code} {response.reason or ''}".strip()
        raise SourceError(f"cannot check {shown}: HTTP {reason}{hint}")
    seen = {name: value for name, value in response_validators(response).items() if value}
    now = json.dumps(seen, sort_keys=True)
    if not seen:
        # the look's time as cursor: each such look is a new change, so the run it asks for is never a repeat
        now = json.dumps({"looked_at": dt.datetime.now(dt.UTC).isoformat()})
        return Change(True, now, f"{shown}: cannot tell (the server sends no ETag or Last-Modified)")
    if not known:
        return Change(True, now, f"{shown}: first look")
    if all(known.get(name) == value for name, value in seen.items()):
        # a server that ignores conditional headers still answers with the same validators
        return Change(False, now, f"{shown} unchanged (same {' and '.join(_NAMES[name] for name in seen)})")
    return Change(True, now, f"{shown} changed (new {_NAMES['etag' if 'etag' in seen else 'last_modified']})")


_NAMES = {"etag": "ETag", "last_modified": "Last-Modified"}


def _loads(cursor: str) -> dict:
    """A cursor written by an older version, or by hand, is no cursor: the next look counts as the first."""
    try:
        value = json.loads(cursor)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
