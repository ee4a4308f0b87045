"""Bulk API 2.0 ingest jobs in the fake org (api-notes §1.6; Bulk API 2.0 developer guide).

`POST jobs/ingest` opens a job (state Open), `PUT jobs/ingest/{id}/batches` takes the CSV (201, empty
body), `PATCH jobs/ingest/{id}` with `{"state": "UploadComplete"}` closes it, `GET jobs/ingest/{id}`
answers InProgress for `bulk_polls_in_progress` polls and then JobComplete with the counts, and
`successfulResults` (`sf__Id`, `sf__Created`), `failedResults` (`sf__Id`, `sf__Error`) and
`unprocessedRecords` are CSV. In the CSV an empty cell leaves a field as it is and `#N/A` empties it; an
unknown column fails the whole job (InvalidBatch). Records go through the same upsert as Collections.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets

from rostersync_pipelines_tests.fakes.salesforce import _error
from rostersync_pipelines_tests.fakes.salesforce_org import NUMBER_TYPES
from rostersync_pipelines_tests.fakes.salesforce_render import csv_text
from rostersync_pipelines_tests.fakes.salesforce_writes import unknown_fields


class Ingest:
    def __init__(self, fake):
        self.fake, self.jobs = fake, {}

    def route(self, method, version, rest, params, body):
        if rest == "jobs/ingest" and method == "POST":
            return self._create(json.loads(body or b"{}"), version)
        match = re.fullmatch(
            r"jobs/ingest/(750\w+?)(?:/(batches|successfulResults|failedResults|unprocessedRecords))?", rest
        )
        job = self.jobs.get(match.group(1)) if match else None
        if job is None:
            return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")
        part = match.group(2)
        if part == "batches" and method == "PUT":
            if job["state"] != "Open":
                return 409, {}, _error("INVALIDJOBSTATE", "The job is not open for data")
            job["csv"] += body.decode("utf-8")
            return 201, {}, b""
        if part is None and method == "PATCH":
            return 200, {}, self._set_state(job, json.loads(body or b"{}").get("state"))
        if part is None and method == "GET":
            return 200, {}, self._info(job, poll=True)
        if part is None and method == "DELETE":
            del self.jobs[job["id"]]
            return 204, {}, b""
        if part and method == "GET":
            return 200, {"Content-Type": "text/csv"}, job["results"].get(part, "")
        return 404, {}, _error("NOT_FOUND", "The requested resource does not exist")

    def _create(self, payload: dict, version: str):
        sobject = payload.get("object")
        if payload.get("operation") not in ("insert", "upsert", "update", "delete", "hardDelete"):
            return 400, {}, _error("INVALIDJOB", "InvalidJob : operation is required")
        if sobject not in self.fake.store.records:
            return 400, {}, _error("INVALIDJOB", f"InvalidJob : Invalid object: {sobject}")
        if payload.get("operation") == "upsert" and payload.get("externalIdFieldName") != "External_Id__c":
            return (
                400,
                {},
                _error("INVALIDJOB", "InvalidJob : externalIdFieldName is not an External ID field"),
            )
        job_id = "750" + secrets.token_hex(6)[:12] + "AAA"
        self.jobs[job_id] = {
            "id": job_id, "object": sobject, "operation": payload["operation"], "state": "Open",
            "version": version, "csv": "", "results": {}, "polls": 0, "processed": 0, "failed": 0,
        }  # fmt: skip
        return 200, {}, self._info(self.jobs[job_id])

    def _set_state(self, job: dict, state: str | None) -> dict:
        if state == "Aborted":
            job["state"] = "Aborted"
        elif state == "UploadComplete" and job["state"] == "Open":
            job["state"] = "UploadComplete"
            self._process(job)
        return self._info(job)

    def _process(self, job: dict) -> None:
        rows = list(csv.reader(io.StringIO(job["csv"])))
        header, rows = (rows[0], rows[1:]) if rows else ([], [])
        unknown = unknown_fields(self.fake.org, job["object"], header)
        if unknown or "External_Id__c" not in header:
            job["final"], job["error"] = (
                "Failed",
                f"InvalidBatch : Field name not found : {(unknown or ['External_Id__c'])[0]}",
            )
            return
        fields = self.fake.org.objects[job["object"]].fields
        records = []
        for row in rows:
            record = {}
            for name, text in zip(header, row, strict=True):
                if text == "":
                    continue  # an empty cell leaves the field as it is
                kind = fields[name.casefold()].type
                record[name] = None if text == "#N/A" else float(text) if kind in NUMBER_TYPES else text
            records.append(record)
        results = self.fake.store.upsert(job["object"], records)
        good = [
            [r["id"], str(r["created"]).lower(), *row]
            for r, row in zip(results, rows, strict=True)
            if r["success"]
        ]
        bad = [
            [r["id"] or "", _bulk_error(r["errors"][0]), *row]
            for r, row in zip(results, rows, strict=True)
            if not r["success"]
        ]
        job["results"] = {
            "successfulResults": _csv(["sf__Id", "sf__Created", *header], good),
            "failedResults": _csv(["sf__Id", "sf__Error", *header], bad),
            "unprocessedRecords": _csv(header, []),
        }
        job["final"], job["processed"], job["failed"] = "JobComplete", len(rows), len(bad)

    def _info(self, job: dict, poll: bool = False) -> dict:
        if poll and job["state"] in ("UploadComplete", "InProgress"):
            job["polls"] += 1
            job["state"] = "InProgress" if job["polls"] <= self.fake.bulk_polls_in_progress else job["final"]
        answer = {
            "id": job["id"], "operation": job["operation"], "object": job["object"],
            "createdById": "005000000000001AAA", "createdDate": "2026-01-05T09:00:00.000+0000",
            "systemModstamp": "2026-01-05T09:00:01.000+0000", "state": job["state"],
            "externalIdFieldName": "External_Id__c", "concurrencyMode": "Parallel", "contentType": "CSV",
            "apiVersion": float(job["version"]), "jobType": "V2Ingest", "lineEnding": "LF", "columnDelimiter": "COMMA",
            "numberRecordsProcessed": job["processed"] if job["state"] == "JobComplete" else 0,
            "numberRecordsFailed": job["failed"] if job["state"] == "JobComplete" else 0,
            "retries": 0, "totalProcessingTime": 0,
        }  # fmt: skip
        if job["state"] == "Failed":
            answer["errorMessage"] = job["error"]
        return answer


def _bulk_error(error: dict) -> str:
    return f"{error['statusCode']}:{error['message']}:{','.join(error['fields'])} --"


def _csv(header: list[str], rows: list[list]) -> str:
    import pandas as pd

    return csv_text(pd.DataFrame(rows, columns=header, dtype=object))
