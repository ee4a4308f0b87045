"""Pacing the calls of one apply: a token bucket shared by every thread.

An LMS that allows N calls per S seconds (TalentLMS: 200 per 5 s) counts them over any window of S seconds.
A bucket refilling at rate r with capacity C lets at most C + r*S calls into such a window, so r is 95 % of
the limit and C the small rest: the apply runs just under the limit instead of bursting into 429s.
"""

from __future__ import annotations

import threading
import time

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
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)
