"""The Salesforce learning destination: upsert by External ID into the three custom objects.

Up to `bulk_above` changed records of a kind go through sObject Collections (200 per PATCH, one
UpsertResult per record in request order, HTTP 200 even when some fail); more go through one Bulk API 2.0
ingest job (`salesforce_bulk`). Logging in is the Salesforce source's code (three modes, one re-login after
an expired session). REQUEST_LIMIT_EXCEEDED stops the delivery (`DeliveryStopped`) after the calls that
went through; any other refusal of a whole call is a TargetError naming the fix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
import requests
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceOperationError,
    SalesforceRefusedRequest,
)

from rostersync_pipelines import http
from rostersync_pipelines.errors import SourceError, TargetError, TransientTargetError
from rostersync_pipelines.learning.destinations import OUTCOME_COLUMNS, DeliveryStopped, destination_key
from rostersync_pipelines.learning.kinds import Kind, salesforce_fields
from rostersync_pipelines.sources.salesforce import said
from rostersync_pipelines.sources.salesforce_auth import RetryingSession, connect
from rostersync_pipelines.sources.soql import quote

COLLECTION_SIZE = 200  # Salesforce's limit per sObject Collections call
EMAILS_PER_QUERY = 100  # keeps each SOQL GET well under the URL length limit
DEADLINE_SECONDS = 6 * 3600  # one delivery, Bulk job polling included
WHERE = "learning destination"
DEPLOY = "deploy the objects in salesforce/ (sf project deploy start) and assign the permission set"


class SalesforceDestination:
    def __init__(self, spec, sync_name: str):
        self.spec, self.sync_name, self.calls = spec, sync_name, 0
        self.key = destination_key(spec)
        self.session = RetryingSession(http.new_session(), time.monotonic() + DEADLINE_SECONDS)
        self.sf = self._login()
        self.relogged = False

    def _login(self):
        try:
            return connect(self.spec, self.session, WHERE)
        except SourceError as error:  # the source's words, about the destination
            raise TargetError(str(error).replace(f"source '{WHERE}'", WHERE)) from None
        except requests.RequestException as error:
            raise TargetError(
                f"{WHERE}: cannot reach {self.spec.instance_url}: {type(error).__name__}"
            ) from None

    def call(self, action):
        """One API call; a session that expired is renewed once, then the call is made again."""
        with translated(self.spec):
            try:
                return action(self.sf)
            except SalesforceExpiredSession:
                if self.relogged:
                    raise TargetError(
                        f"{WHERE}: the Salesforce session expired again right after a new login; check the "
                        "org's session policies for API sessions"
                    ) from None
                self.relogged, self.sf = True, self._login()
                return action(self.sf)

    def write(self, kind: Kind, records: pd.DataFrame) -> Iterator[pd.DataFrame]:
        fields = salesforce_fields(kind)
        if len(records) > self.spec.bulk_above:
            from rostersync_pipelines.learning.salesforce_bulk import bulk_upsert

            yield from bulk_upsert(self, kind, records[list(fields)].rename(columns=fields))
            return
        body = records[list(fields)].rename(columns=fields).astype(object)
        body = body.where(body.notna(), None).to_dict("records")
        path = f"composite/sobjects/{kind.sobject}/External_Id__c"
        for start in range(0, len(body), COLLECTION_SIZE):
            chunk = [
                {"attributes": {"type": kind.sobject}, **record}
                for record in body[start : start + COLLECTION_SIZE]
            ]
            self.calls += 1
            results = self.call(
                lambda sf, chunk=chunk: sf.restful(
                    path, method="PATCH", json={"allOrNone": False, "records": chunk}
                )
            )
            yield upsert_outcomes([record["External_Id__c"] for record in chunk], results)

    def find_by_email(self, emails: list[str]) -> pd.DataFrame:
        """Users, then Contacts, holding each email; an email held twice in one object stays unresolved."""
        found = pd.DataFrame({"email": emails}, dtype=object)
        for sobject, column in (("User", "salesforce_user_id"), ("Contact", "salesforce_contact_id")):
            pairs = []
            for start in range(0, len(emails), EMAILS_PER_QUERY):
                listed = ", ".join(quote(email) for email in emails[start : start + EMAILS_PER_QUERY])
                soql = f"SELECT Id, Email FROM {sobject} WHERE Email IN ({listed})"
                answer = self.call(lambda sf, soql=soql: sf.query_all(soql))
                pairs += [
                    (str(record["Email"]).strip().casefold(), record["Id"]) for record in answer["records"]
                ]
            ids = pd.DataFrame(pairs, columns=["email", "id"], dtype=object)
            unique = ids.drop_duplicates("email", keep=False).set_index("email")["id"]
            found[column] = found["email"].map(unique)
        return found.astype(object).where(found.notna(), None)

    def close(self) -> None:
        self.session.close()


def upsert_outcomes(external_ids: list[str], results: list[dict]) -> pd.DataFrame:
    """UpsertResults (request order) -> outcomes; Salesforce's first error kept as `code: message`."""
    errors = [
        None if result.get("success") else _first_error(result.get("errors") or []) for result in results
    ]
    return pd.DataFrame(
        {
            "external_id": external_ids,
            "status": ["delivered" if result.get("success") else "failed" for result in results],
            "record_id": [result.get("id") for result in results],
            "error": errors,
            "created": [bool(result.get("created")) for result in results],
        },
        columns=OUTCOME_COLUMNS,
    )


def _first_error(errors: list[dict]) -> str:
    if not errors:
        return "UNKNOWN_ERROR: Salesforce gave no reason"
    first = errors[0]
    fields = f" ({', '.join(first['fields'])})" if first.get("fields") else ""
    return f"{first.get('statusCode')}: {first.get('message')}{fields}"


@contextmanager
def translated(spec):
    try:
        yield
    except (TargetError, DeliveryStopped):
        raise
    except SalesforceRefusedRequest as error:
        code, message = said(error)
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise DeliveryStopped(
                f"{WHERE}: Salesforce stopped the delivery: REQUEST_LIMIT_EXCEEDED ({message}); the rest goes "
                "on the next run, after the org's rolling 24-hour API limit frees up"
            ) from None
        raise TargetError(
            f"{WHERE}: Salesforce refused the write: {code or 'HTTP 403'} ({message}); give the integration "
            "user the RosterSync Learning permission set (API Enabled, create and edit on the three objects)"
        ) from None
    except SalesforceGeneralError as error:
        code, message = said(error)
        raise TransientTargetError(
            f"{WHERE}: Salesforce did not answer (HTTP {error.status} {code}) after retries; run again later"
        ) from None
    except SalesforceError as error:
        code, message = said(error)
        raise TargetError(
            f"{WHERE}: Salesforce refused the call: {code or f'HTTP {error.status}'} ({message}); {DEPLOY}"
        ) from None
    except SalesforceOperationError as error:  # a Bulk API 2.0 job that failed as a whole
        text = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise TargetError(f"{WHERE}: the Bulk API 2.0 upsert job failed: {text}; {DEPLOY}") from None
    except http.DeadlineExceeded:
        raise TargetError(f"{WHERE}: the delivery ran out of time; run it again to continue") from None
    except requests.RequestException as error:
        raise TargetError(f"{WHERE}: cannot reach {spec.instance_url}: {type(error).__name__}") from None
