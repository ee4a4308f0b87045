"""An in-process Salesforce org for simple-salesforce: logins, SOQL query with paging, describe, Bulk 2.0.

Mounted on the real host names (`mounts()`): the org's My Domain and `login` / `test.salesforce.com`.
It answers with Salesforce's shapes (api-notes §1): relative `nextRecordsUrl`, `query/` with its trailing
slash, error bodies as a list of `{message, errorCode}`, 401 `INVALID_SESSION_ID`, 403
`REQUEST_LIMIT_EXCEEDED`, Bulk 2.0 results with `Sforce-Locator` / `Sforce-NumberOfRecords`. Every SOQL
text it receives is parsed (`fakes/soql.py`) and refused as Salesforce refuses it. Knobs: `page_size`,
`throttle(n)`, `limit_after(calls)`, `expire_sessions()`, `logins.sessions_die_at_once`, `latency`,
`bulk_polls_in_progress`; `calls` and `queries` record what arrived.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from urllib.parse import parse_qs

from wsgiadapter import WSGIAdapter

from rostersync_pipelines_tests.fakes import salesforce_render as render
from rostersync_pipelines_tests.fakes.salesforce_login import Logins, form_of
from rostersync_pipelines_tests.fakes.salesforce_org import Org
from rostersync_pipelines_tests.fakes.soql import SoqlError, parse

INSTANCE_URL = "https://acme.my.salesforce.com"
LOGIN_HOSTS = ("login.salesforce.com", "test.salesforce.com")
_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)/(?P<rest>.*)$")


class FakeSalesforce:
    def __init__(self, instance_url: str = INSTANCE_URL, versions=("59.0", "60.0", "61.0", "62.0", "63.0")):
        self.instance_url, self.versions = instance_url, set(versions)
        self.org, self.logins = Org(), Logins(instance_url)
        self.page_size = 2000
        self.latency = 0.0
        self.bulk_polls_in_progress = 1
        self.calls: list[dict] = []
        self.queries: list[str] = []
        self._throttled, self._retry_after, self._limit_after, self._expire_at = 0, None, None, None
        self._cursors: dict[str, tuple] = {}
        self._jobs: dict[str, dict] = {}

    # knobs
    def throttle(self, times: int, retry_after: str | None = "0") -> None:
        """The next `times` data calls answer 503 SERVER_UNAVAILABLE (with Retry-After when given)."""
        self._throttled, self._retry_after = times, retry_after

    def limit_after(self, calls: int | None) -> None:
        """After this many more data calls, every one answers 403 REQUEST_LIMIT_EXCEEDED."""
        self._limit_after = None if calls is None else self.data_calls() + calls

    def expire_sessions(self, after_calls: int = 0) -> None:
        """Every session handed out so far expires once `after_calls` more data calls have been answered."""
        self._expire_at = self.data_calls() + after_calls

    def data_calls(self) -> int:
        return sum(1 for call in self.calls if call["path"].startswith("/services/data/"))

    def mounts(self) -> dict[str, WSGIAdapter]:
        adapter = WSGIAdapter(self)
        return {self.instance_url: adapter, **{f"https://{host}": adapter for host in LOGIN_HOSTS}}

    # WSGI
    def __call__(self, environ, start_response):
        host, method, path = environ["SERVER_NAME"], environ["REQUEST_METHOD"], environ["PATH_INFO"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        params = {key: values[0] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
        self.calls.append({"host": host, "method": method, "path": path, "params": params})
        if self.latency:
            time.sleep(self.latency)
        status, headers, content = self._route(host, method, path, params, body, environ)
        if isinstance(content, dict | list):
            content, headers = json.dumps(content).encode(), {"Content-Type": "application/json", **headers}
        elif isinstance(content, str):
            content = content.encode("utf-8")
        start_response(f"{status} {_REASONS.get(status, 'OK')}", list(headers.items()))
        return [content]

    def _route(self, host, method, path, params, body, environ):
        if path == "/services/oauth2/token" and method == "POST":
            status, answer = self.logins.token(host, form_of(body), environ.get("HTTP_AUTHORIZATION"))
            return status, {}, answer
        soap = re.fullmatch(r"/services/Soap/u/(\d+\.\d)", path)
        if soap and method == "POST" and host in LOGIN_HOSTS:
            if environ.get("HTTP_SOAPACTION") != "login" or "xml" not in environ.get("CONTENT_TYPE", ""):
                return 500, {"Content-Type": "text/xml"}, "<soapenv:Fault>bad SOAP request</soapenv:Fault>"
            status, xml = self.logins.soap(host, soap.group(1), body)
            return status, {"Content-Type": "text/xml; charset=utf-8"}, xml
        data = _DATA.match(path)
        if host != self.instance_url.split("://")[1] or data is None:
            return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")
        refusal = self._refusal(environ, data.group("version"))
        if refusal:
            return refusal
        try:
            return self._data(method, data.group("version"), data.group("rest"), params, body)
        except SoqlError as error:
            return 400, {}, _error(error.code, error.message)

    def _refusal(self, environ, version):
        if self._expire_at is not None and self.data_calls() > self._expire_at:
            self.logins.sessions.clear()
            self._expire_at = None
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        if token not in self.logins.sessions:
            return 401, {}, _error("INVALID_SESSION_ID", "Session expired or invalid")
        if version not in self.versions:
            return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")
        if self._limit_after is not None and self.data_calls() > self._limit_after:
            return 403, {}, _error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if self._throttled:
            self._throttled -= 1
            headers = {"Retry-After": self._retry_after} if self._retry_after is not None else {}
            return 503, headers, _error("SERVER_UNAVAILABLE", "Server is busy. Please try again later.")
        return None

    def _data(self, method, version, rest, params, body):
        usage = {"Sforce-Limit-Info": f"api-usage={self.data_calls()}/15000"}
        if rest == "query/" and method == "GET":
            return 200, usage, self._query(params.get("q", ""), version)
        more = re.fullmatch(r"query/(01g[0-9A-Za-z]+)-(\d+)", rest)
        if more and method == "GET":
            return 200, usage, self._page(more.group(1), int(more.group(2)))
        describe = re.fullmatch(r"sobjects/(\w+)/describe/?", rest)
        if describe and method == "GET":
            return 200, usage, render.describe(self.org.sobject(describe.group(1)))
        if rest == "jobs/query" and method == "POST":
            return 200, usage, self._create_job(json.loads(body or b"{}"), version)
        job = re.fullmatch(r"jobs/query/(750\w+?)(/results)?", rest)
        if job and method == "GET" and job.group(1) in self._jobs:
            if job.group(2):
                return self._results(self._jobs[job.group(1)], params, version)
            return 200, usage, self._job_state(self._jobs[job.group(1)])
        return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")

    # REST query
    def _query(self, soql: str, version: str) -> dict:
        self.queries.append(soql)
        query = parse(soql)
        sobject, rows = self.org.select(query)
        if not query.items:
            return {"totalSize": len(rows), "done": True, "records": []}
        if any(item[0] == "agg" for item in query.items):
            return render.aggregate(self.org, sobject, query, rows)
        locator = "01g" + secrets.token_hex(7)
        paths = [item[1] for item in query.items]
        self._cursors[locator] = (render.prepare(self.org, sobject, paths, rows), len(rows), version)
        return self._page(locator, 0)

    def _page(self, locator: str, offset: int) -> dict:
        if locator not in self._cursors:
            raise SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        prepared, total, version = self._cursors[locator]
        stop = min(offset + self.page_size, total)
        answer = {"totalSize": total, "done": stop >= total}
        if not answer["done"]:
            answer["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{stop}"
        answer["records"] = render.records(prepared, offset, stop, version)
        return answer

    # Bulk API 2.0 query
    def _create_job(self, payload: dict, version: str) -> dict:
        if payload.get("operation") not in ("query", "queryAll") or not payload.get("query"):
            raise SoqlError("INVALIDJOB", "operation and query are required")
        self.queries.append(payload["query"])
        query = parse(payload["query"])
        if not query.items or any(item[0] == "agg" for item in query.items):
            raise SoqlError("INVALIDJOB", "Aggregate queries are not supported by Bulk API 2.0 query")
        sobject, rows = self.org.select(query)
        job_id = "750" + secrets.token_hex(6)[:12] + "AAA"
        columns = render.csv_columns(self.org, sobject, [item[1] for item in query.items], rows)
        self._jobs[job_id] = {
            "id": job_id,
            "object": sobject.name,
            "columns": columns,
            "version": version,
            "polls": 0,
            "operation": payload["operation"],
        }
        return self._job_state(self._jobs[job_id], state="UploadComplete")

    def _job_state(self, job: dict, state: str | None = None) -> dict:
        if state is None:
            job["polls"] += 1
            state = "InProgress" if job["polls"] <= self.bulk_polls_in_progress else "JobComplete"
        answer = {
            "id": job["id"],
            "operation": job["operation"],
            "object": job["object"],
            "createdById": "005000000000001AAA",
            "createdDate": "2026-01-05T09:00:00.000+0000",
            "systemModstamp": "2026-01-05T09:00:01.000+0000",
            "state": state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job["version"]),
            "lineEnding": "LF",
            "columnDelimiter": "COMMA",
        }
        if state == "JobComplete":
            answer.update(numberRecordsProcessed=len(job["columns"]), retries=0, totalProcessingTime=250)
        return answer

    def _results(self, job: dict, params: dict, version: str):
        if version != job["version"]:
            return 409, {}, _error("INVALIDJOBSTATE", "Use the API version the job was created with")
        offset = int(base64.b64decode(params["locator"]).decode()) if params.get("locator") else 0
        size = int(params.get("maxRecords") or 50000)
        chunk = job["columns"].iloc[offset : offset + size]
        end = offset + len(chunk)
        locator = base64.b64encode(str(end).encode()).decode() if end < len(job["columns"]) else "null"
        headers = {
            "Content-Type": "text/csv",
            "Sforce-Locator": locator,
            "Sforce-NumberOfRecords": str(len(chunk)),
        }
        return 200, headers, render.csv_text(chunk)


def _error(code: str, message: str) -> list[dict]:
    return [{"message": message, "errorCode": code}]


_REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    500: "Server Error",
    503: "Service Unavailable",
}
