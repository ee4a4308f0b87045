"""The SCIM peer of the tests: the real third-party `scim2-server` (0.8.3), its WSGI app, unchanged.

What a SCIM service provider does (filters, PATCH, ETags, uniqueness, paging, bearer tokens) comes from
scim2-server itself, exactly as its `scim2-server --bearer-token` command builds it. `ScimPeer` only wraps
it as an LMS would deploy it and adds test knobs that sit in front, as a load balancer would:
- it is mounted under a path prefix (`/scim`, so the base URL is https://lms.example.com/scim/v2);
- `fail(status, times, retry_after)` answers the next calls with a SCIM Error (429 / 500 bursts);
- it counts calls by method, so a test can say "zero write calls";
- `latency` (seconds) delays every call, as a distant server would, so an apply lasts long enough to kill.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)

WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def scim_app(token: str, max_results: int = 1000) -> tuple[BearerTokenApplication, InMemoryStorage]:
    """scim2-server as its CLI builds it with `--bearer-token TOKEN`; `max_results` is its page limit."""
    config = load_default_service_provider_config()
    config.filter.max_results = max_results
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=ScimService(provider), bearer_tokens=[token])
    return app, storage


class ScimPeer:
    def __init__(
        self,
        token: str = "scim-test-token",
        prefix: str = "/scim",
        max_results: int = 1000,
        latency: float = 0.0,
    ):
        self.app, self.storage = scim_app(token, max_results)
        self.prefix, self.latency = prefix, latency
        self.calls: Counter[str] = Counter()  # method -> calls that reached scim2-server
        self.failures: list[tuple[int, int | None]] = []  # (status, Retry-After) answered next, in order
        self.lock = threading.Lock()

    def fail(self, status: int, times: int = 1, retry_after: int | None = None) -> None:
        with self.lock:
            self.failures.extend([(status, retry_after)] * times)

    @property
    def writes(self) -> int:
        return sum(count for method, count in self.calls.items() if method in WRITES)

    def resources(self, resource_type: str) -> list[dict]:
        return [
            resource.model_dump()
            for resource in self.storage.resources
            if resource.meta and resource.meta.resource_type == resource_type
        ]

    def __call__(self, environ, start_response):
        if self.latency:
            time.sleep(self.latency)
        path = environ.get("PATH_INFO", "")
        if not (path == self.prefix or path.startswith(self.prefix + "/")):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not a SCIM path"]
        with self.lock:
            failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            status, retry_after = failure
            body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": str(status)}
            body["detail"] = "Too many requests" if status == 429 else "Internal server error"
            headers = [("Content-Type", "application/scim+json")]
            if retry_after is not None:
                headers.append(("Retry-After", str(retry_after)))
            start_response(f"{status} {'Too Many Requests' if status == 429 else 'Error'}", headers)
            return [json.dumps(body).encode()]
        with self.lock:
            self.calls[environ["REQUEST_METHOD"]] += 1
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + self.prefix
        environ["PATH_INFO"] = path[len(self.prefix) :]
        return self.app(environ, start_response)
