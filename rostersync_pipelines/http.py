"""The one way RosterSync talks HTTP: a requests session with timeouts, retries and the company's proxy.

Real companies sit behind proxies and private CAs, so sessions keep requests' `trust_env` (HTTPS_PROXY,
NO_PROXY, REQUESTS_CA_BUNDLE are honoured). Throttling (429) and passing outages (5xx) are retried with
backoff and jitter, waiting what `Retry-After` asks. Every connector builds its session here, so these rules
live once; a test (or an embedding program) can put in-process transports in front of real host names with
`extra_transports`, and every session built meanwhile reaches them instead of the network.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime

import requests
from requests.adapters import BaseAdapter, HTTPAdapter

CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_WAIT = 120.0

_transports: list[tuple[str, BaseAdapter]] = []


def new_session(user_agent: str = "RosterSync") -> requests.Session:
    """A session with the standard environment honoured and any test transports mounted."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=16)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    for prefix, transport in _transports:
        session.mount(prefix, transport)
    return session


@contextmanager
def extra_transports(mounts: dict[str, BaseAdapter]) -> Iterator[None]:
    """Route every session built inside this block: `{"https://acme.my.salesforce.com": adapter}`."""
    added = list(mounts.items())
    _transports.extend(added)
    try:
        yield
    finally:
        for item in added:
            _transports.remove(item)


def retry_after(response: requests.Response, attempt: int) -> float:
    """Seconds to wait before the next try: the server's Retry-After, else exponential backoff with jitter."""
    header = response.headers.get("Retry-After") if response is not None else None
    if header:
        try:
            return min(max(float(header), 0.0), MAX_RETRY_WAIT)
        except ValueError:
            try:
                moment = parsedate_to_datetime(header).timestamp()
                return min(max(moment - time.time(), 0.0), MAX_RETRY_WAIT)
            except (TypeError, ValueError):
                pass
    return backoff(attempt)


def backoff(attempt: int, base: float = 0.5, cap: float = 30.0) -> float:
    """Full jitter (AWS's recipe): many clients retrying together do not stampede the server again."""
    return random.uniform(0, min(cap, base * 2**attempt))


def request(
    session: requests.Session,
    method: str,
    url: str,
    *,
    retries: int = 4,
    deadline: float | None = None,
    sleep=time.sleep,
    **kwargs,
) -> requests.Response:
    """One HTTP call, retried on 429 / 5xx / connection errors / timeouts; the last answer is returned.

    `deadline` (a time.monotonic() value) bounds the whole call including waits: past it, the last answer
    (or error) stands. Callers decide what a non-2xx answer means for their API.
    """
    kwargs.setdefault("timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
    for attempt in range(retries + 1):
        try:
            response = session.request(method, url, **kwargs)
        except (requests.ConnectionError, requests.Timeout):
            if attempt == retries or _past(deadline, backoff(attempt)):
                raise
            sleep(backoff(attempt))
            continue
        if response.status_code not in RETRY_STATUSES or attempt == retries:
            return response
        wait = retry_after(response, attempt)
        if _past(deadline, wait):
            return response
        sleep(wait)
    raise AssertionError("unreachable")


def _past(deadline: float | None, wait: float) -> bool:
    return deadline is not None and time.monotonic() + wait > deadline


class DeadlineExceeded(Exception):
    """A download went on past its total deadline (a server trickling bytes, a stalled proxy)."""


def read_body(response: requests.Response, deadline: float | None, chunk: int = 1 << 16) -> bytes:
    """The body of a `stream=True` response, refused once the total deadline passes.

    requests' timeout is per socket read: a server sending one byte every few seconds never trips it, so
    the deadline is checked after every read, and each read returns as soon as any bytes arrive (`read1`)
    rather than waiting for a whole chunk.
    """
    read1 = getattr(response.raw, "read1", None)  # urllib3's; an in-process transport may lack it
    chunks = iter(lambda: read1(chunk, decode_content=True), b"") if read1 else response.iter_content(chunk)
    parts = []
    try:
        for part in chunks:
            parts.append(part)
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded()
    except DeadlineExceeded:
        raise
    except Exception as error:  # urllib3's own errors, as requests would raise them
        raise requests.ConnectionError(str(error)) from error
    finally:
        response.close()
    return b"".join(parts)


def read_timeout(deadline: float | None, longest: float = READ_TIMEOUT) -> tuple[float, float]:
    """Connect and read timeouts that never outlast the deadline."""
    if deadline is None:
        return (CONNECT_TIMEOUT, longest)
    left = max(deadline - time.monotonic(), 0.1)
    return (min(CONNECT_TIMEOUT, left), min(longest, left))
