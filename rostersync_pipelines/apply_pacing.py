"""Pacing the calls of one apply: a token bucket shared by every thread.

An LMS that allows N calls per S seconds (TalentLMS: 200 per 5 s) counts them over any window of S seconds.
A bucket refilling at rate r with capacity C lets at most C + r*S calls into such a window, so r is 95 % of
the limit and C the small rest: the apply runs just under the limit instead of bursting into 429s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import requests
from requests.adapters import BaseAdapter

from rostersync_pipelines.config_targets import RateLimit

SHARE_OF_LIMIT = 0.95


class TokenBucket:
    def __init__(self, limit: RateLimit | None, clock=time.monotonic, sleep=time.sleep):
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        if limit is None:
            self.rate = None
            return
        self.rate = SHARE_OF_LIMIT * limit.calls / limit.per_seconds
        self.capacity = max(1.0, limit.calls - self.rate * limit.per_seconds)
        self.tokens = self.capacity
        self.stamp = clock()

    def take(self) -> None:
        """Block until one call may go out."""
        if self.rate is None:
            return
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1 - 1e-9:  # float rounding must not leave a wait too small to pass
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


class PacedAdapter(BaseAdapter):
    """Takes a token before every HTTP call: one change may cost two calls (a sign-up, then a branch), and
    a retry after a 429 is a call too, so the LMS's limit is kept per call, not per change."""

    def __init__(self, inner: BaseAdapter, take: Callable[[], None]):
        super().__init__()
        self.inner, self.take = inner, take

    def send(self, request, **kwargs):
        self.take()
        return self.inner.send(request, **kwargs)

    def close(self) -> None:
        self.inner.close()


def pace_session(session: requests.Session, take: Callable[[], None]) -> None:
    for prefix, adapter in list(session.adapters.items()):
        if not isinstance(adapter, PacedAdapter):
            session.mount(prefix, PacedAdapter(adapter, take))
