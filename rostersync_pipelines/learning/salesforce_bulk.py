"""Many changed records of one kind: one Bulk API 2.0 ingest upsert job instead of a call per 200.

The CSV is written by pandas (a null is `#N/A`: an empty cell would leave the old value in place), sent
by simple-salesforce (`jobs/ingest`, PUT the batch, UploadComplete, poll), and the per-record outcome is
read back from `successfulResults` (`sf__Id`, `sf__Created`) and `failedResults` (`sf__Error`); a record
in neither was not processed and stays `unsent`. A job that the request limit interrupts leaves all of its
records unsent: re-sending them is an upsert, so it is harmless.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator

import pandas as pd

from rostersync_pipelines.learning.destinations import OUTCOME_COLUMNS
from rostersync_pipelines.learning.kinds import Kind

BULK_POLL_SECONDS = 2.0  # simple-salesforce's first wait before polling the job, and its poll step
NULL = "#N/A"


def bulk_upsert(destination, kind: Kind, body: pd.DataFrame) -> Iterator[pd.DataFrame]:
    handle, path = tempfile.mkstemp(suffix=".csv", prefix="rostersync-learning-")
    os.close(handle)
    try:
        body.astype(object).where(body.notna(), NULL).to_csv(path, index=False, lineterminator="\n")
        try:
            jobs = destination.call(
                lambda sf: getattr(sf.bulk2, kind.sobject).upsert(
                    csv_file=path, external_id_field="External_Id__c", wait=BULK_POLL_SECONDS
                )
            )
        finally:
            destination.calls += 1
        # a file over 100 MB is split into several jobs: one outcome for all of them
        succeeded = [_results(destination, kind, "get_successful_records", job["job_id"]) for job in jobs]
        failed = [_results(destination, kind, "get_failed_records", job["job_id"]) for job in jobs]
        yield _outcomes(body["External_Id__c"], pd.concat(succeeded), pd.concat(failed))
    finally:
        os.remove(path)


def _results(destination, kind: Kind, method: str, job_id: str) -> pd.DataFrame:
    text = destination.call(lambda sf: getattr(getattr(sf.bulk2, kind.sobject), method)(job_id))
    if not text.strip():
        return pd.DataFrame()
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _outcomes(sent: pd.Series, succeeded: pd.DataFrame, failed: pd.DataFrame) -> pd.DataFrame:
    outcome = pd.DataFrame({"external_id": sent.to_numpy(dtype=object)})
    outcome["status"], outcome["record_id"], outcome["error"], outcome["created"] = (
        "unsent",
        None,
        None,
        False,
    )
    outcome["error"] = "not processed by the Bulk API job; sent again next run"
    outcome = outcome.set_index("external_id", drop=False)
    if len(succeeded):
        ok = succeeded.set_index("External_Id__c")
        ok = ok[ok.index.isin(outcome.index)]
        outcome.loc[ok.index, "status"] = "delivered"
        outcome.loc[ok.index, "record_id"] = ok["sf__Id"].replace("", None)
        outcome.loc[ok.index, "error"] = None
        outcome.loc[ok.index, "created"] = ok["sf__Created"].str.lower().eq("true")
    if len(failed):
        bad = failed.set_index("External_Id__c")
        bad = bad[bad.index.isin(outcome.index)]
        code, _, rest = bad["sf__Error"].str.partition(":").T.to_numpy()
        message = pd.Series(rest, index=bad.index).str.rsplit(":", n=1).str[0]
        outcome.loc[bad.index, "status"] = "failed"
        outcome.loc[bad.index, "error"] = pd.Series(code, index=bad.index) + ": " + message
    return outcome.reset_index(drop=True)[OUTCOME_COLUMNS]
