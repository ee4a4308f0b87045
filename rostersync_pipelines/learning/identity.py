"""Each learner's Salesforce record: the User or Contact the roster sync read them from, else by email.

When the sync's users come from Salesforce, `user_unique_key` is the record's Id and the link table
remembers it per LMS account (folded to lower case, as every identity key is). An 18-character Id carries
the case of its first 15 characters in its last three, so the folded value is turned back into the Id
Salesforce knows; the LMS's own `user_unique_key` is used first when it is the same key. Learners still
without a record are looked up by email in the destination org, and an email held by two records there is
left unresolved: a lookup is never guessed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rostersync_pipelines.config import Config
from rostersync_pipelines.transform.identity import folded

SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
ID_PATTERN = r"^[0-9A-Za-z]{15}(?:[0-9A-Za-z]{3})?$"
PREFIXES = {"005": "salesforce_user_id", "003": "salesforce_contact_id"}
LOOKUPS = list(PREFIXES.values())

EmailLookup = Callable[
    [list[str]], pd.DataFrame
]  # folded emails -> email, salesforce_user_id, ..._contact_id


def restore_case(folded_id: str | None) -> str | None:
    """The Salesforce Id whose lower-cased 18-character form this is; None when it cannot be known."""
    if not isinstance(folded_id, str) or len(folded_id) != 18:
        return None
    suffix = folded_id[15:].upper()
    if any(char not in SUFFIX_ALPHABET for char in suffix):
        return None
    chars = list(folded_id[:15])
    for chunk, code in enumerate(suffix):
        bits = SUFFIX_ALPHABET.index(code)
        for position in range(5):
            if bits & (1 << position):
                chars[chunk * 5 + position] = chars[chunk * 5 + position].upper()
    return "".join(chars) + suffix


def resolve(
    config: Config, sync_name: str, users: pd.DataFrame, links: pd.Series, by_email: EmailLookup | None
) -> pd.DataFrame:
    """Index: LMS user id; columns salesforce_user_id, salesforce_contact_id (None when unknown)."""
    found = pd.DataFrame(None, index=pd.Index(users["id"], dtype=object), columns=LOOKUPS, dtype=object)
    source = config.syncs[sync_name].sources["users"]
    if source.kind == "salesforce" and len(users):
        ids = _salesforce_ids(users, links)
        for prefix, column in PREFIXES.items():
            hit = ids.str.startswith(prefix, na=False).to_numpy()
            found.loc[hit, column] = ids[hit].to_numpy()
    missing = found[LOOKUPS].isna().all(axis=1).to_numpy()
    emails = folded(users["email"]).to_numpy(dtype=object)
    wanted = missing & pd.notna(emails)
    if by_email is not None and wanted.any():
        answers = by_email(sorted(set(emails[wanted])))
        if answers is None or answers.empty:  # a destination without an org to ask
            return found.astype(object).where(found.notna(), None)
        answers = answers.drop_duplicates("email").set_index("email")
        for column in LOOKUPS:
            values = pd.Series(emails[wanted]).map(answers[column]).to_numpy(dtype=object)
            found.loc[wanted, column] = np.where(pd.notna(values), values, None)
    return found.astype(object).where(found.notna(), None)


def _salesforce_ids(users: pd.DataFrame, links: pd.Series) -> pd.Series:
    """Per LMS user (positionally): the linked Id, in Salesforce's case, else the user's own key."""
    by_account = pd.Series(links.index.to_numpy(dtype=object), index=links.to_numpy(dtype=object))
    by_account = by_account[~by_account.index.duplicated(keep="last")]
    linked = users["id"].map(by_account).reset_index(drop=True)
    own = users["user_unique_key"].reset_index(drop=True).astype(object)
    own_is_id = own.str.match(ID_PATTERN, na=False)
    same = own_is_id & (folded(own) == linked)
    restored = linked.map(restore_case)
    ids = own.where(same, restored)
    # no link yet (a first sync not applied): the LMS's own key, when it has an Id's shape
    return ids.where(ids.notna() | linked.notna(), own.where(own_is_id))
