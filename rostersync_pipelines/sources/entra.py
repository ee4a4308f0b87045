"""Microsoft Entra ID users (`kind: entra_id`) through Microsoft Graph v1.0 with an app-only token.

Users come from `/users/delta`: the first read is a full one, later reads fetch only the changes since the
stored delta link and merge them into the stored picture of the tenant (`entra_delta`). The delta link and
the picture are written together, and only after the whole read succeeded, so a read that fails half way
leaves the previous pair and nothing is skipped next time. Scope comes from the configured groups'
transitive members (`entra_scope`); a user removed from the tenant or out of scope leaves the source.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd

from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.schema import ROW
from rostersync_pipelines.sources import Change
from rostersync_pipelines.sources.entra_delta import MANAGER, Picture, decode, encode, has_changes, refresh
from rostersync_pipelines.sources.entra_graph import DeltaLinkUnusable, connect
from rostersync_pipelines.sources.entra_scope import group_names, in_scope, read_scope, scope_digest

# Graph answers with its own spelling whatever case $select used; the mapping is matched case-insensitively
USER_ATTRIBUTES = """accountEnabled ageGroup businessPhones city companyName country createdDateTime
creationType department displayName employeeHireDate employeeId employeeLeaveDateTime employeeOrgData
employeeType externalUserState faxNumber givenName identities imAddresses jobTitle mail mailNickname
mobilePhone officeLocation onPremisesDistinguishedName onPremisesDomainName onPremisesExtensionAttributes
onPremisesImmutableId onPremisesSamAccountName onPremisesSecurityIdentifier onPremisesSyncEnabled
onPremisesUserPrincipalName otherMails postalCode preferredDataLocation preferredLanguage proxyAddresses
showInAddressList state streetAddress surname usageLocation userPrincipalName userType""".split()
SPELLING = {name.casefold(): name for name in USER_ATTRIBUTES}
ALWAYS = ["accountEnabled"]  # status can be mapped without widening the select (and a full read) later


def read(spec, context) -> pd.DataFrame:
    """The source-kind entry point (sources/__init__.py): the users in scope, one text column per field."""
    if context.source_name != "users":
        raise SourceError(f"source '{context.source_name}': kind entra_id can only be the users source")
    columns = context.columns
    attributes = selected_attributes(columns)
    graph = connect(spec, context.session, context.deadline)
    link, stored = _remembered(context, attributes)
    picture, delta_link, _ = refresh(graph, attributes, link, stored)
    scope = read_scope(graph, spec.groups) if spec.groups else None
    frame = to_frame(picture, columns, scope)
    if context.cursors is not None:
        context.cursors.put(delta_link=delta_link, picture=encode(picture), scope=scope_digest(scope))
    return frame


def changed(spec, context, cursor: str | None) -> Change:
    """Follows the stored delta link without storing anything: changed as soon as any user comes back.

    The returned cursor names the delta link asked, so it moves only when a sync stores a new one and the
    sensor's run key stays the same while that change waits for its run. Before any read succeeded there
    is no link: the tick's time is the cursor, so a first sync that failed is asked for again next tick.
    """
    graph = connect(spec, context.session, context.deadline)  # a refused credential cannot be checked
    link = context.cursors.get("delta_link") if context.cursors is not None else None
    if not link:
        looked = dt.datetime.now(dt.UTC).isoformat()
        return Change(True, looked, "nothing read from Entra ID yet: the next sync reads every user")
    asked = hashlib.sha256(link.encode()).hexdigest()[:16]
    try:
        if has_changes(graph, link):
            return Change(True, asked, "Entra ID has changed users since the last sync")
    except DeltaLinkUnusable:
        return Change(True, asked, "Entra ID asked for a full read (the delta link expired)")
    if spec.groups and scope_digest(read_scope(graph, spec.groups)) != context.cursors.get("scope"):
        return Change(True, asked, "the members of the scope groups changed")
    return Change(False, asked, "no user changed in Entra ID since the last sync")


def _remembered(context, attributes: list[str]) -> tuple[str | None, Picture | None]:
    if context.cursors is None:
        return None, None
    return context.cursors.get("delta_link"), decode(context.cursors.get("picture"), attributes)


def split(column: str) -> tuple[str, str, list[str]]:
    """(role, attribute, path) of a mapped column: `id`, `groups`, `manager` (the manager's id),
    `manager.X` (the manager's attribute X), `attr`, or `attr.key` (a key of a complex attribute)."""
    if column.strip().casefold() in ("id", "groups", MANAGER):
        return column.strip().casefold(), "", []
    head, *path = column.strip().split(".")
    if head.casefold() == MANAGER:
        return MANAGER, SPELLING.get(path[0].casefold(), path[0]), path[1:]
    return "attribute", SPELLING.get(head.casefold(), head), path


def selected_attributes(columns: list[str]) -> list[str]:
    """The $select (besides id and manager), sorted so that reordering the mapping keeps the delta link."""
    named = [attribute for role, attribute, _ in map(split, columns) if attribute]
    return sorted(set(named + ALWAYS))


def to_frame(picture: Picture, columns: list[str], scope) -> pd.DataFrame:
    user_ids, by_name = picture.alive()
    ids = pd.Index(user_ids, dtype=object)
    # object columns: pandas would otherwise infer its str dtype and turn None into NaN
    everyone = pd.DataFrame({name: pd.Series(by_name[name], dtype=object) for name in picture.columns})
    everyone.index = ids
    chosen = everyone[in_scope(ids, scope)]
    frame = {}
    for column in columns:
        role, attribute, path = split(column)
        if role == "id":
            values = pd.Series(chosen.index, index=chosen.index, dtype=object)
        elif role == MANAGER and not attribute:
            values = chosen[MANAGER]
        elif role == "groups":
            values = group_names(chosen.index, scope)
        elif role == MANAGER:
            values = as_text(chosen[MANAGER].map(everyone[attribute]), path)
        else:
            values = as_text(chosen[attribute], path)
        frame[column] = pd.Series(values.to_numpy(dtype=object), dtype=object)
    if not any(split(column)[0] == "id" for column in columns):
        frame["id"] = pd.Series(chosen.index.to_numpy(dtype=object), dtype=object)
    table = pd.DataFrame(frame, index=pd.RangeIndex(len(chosen)))
    table[ROW] = range(1, len(table) + 1)
    return table


def as_text(values: pd.Series, path: list[str]) -> pd.Series:
    """Graph's JSON values as the text a person reads: true/false, lists `;`-joined, objects as JSON."""
    if path:
        values = values.map(lambda value: _dig(value, path), na_action="ignore")
    kind = pd.api.types.infer_dtype(values, skipna=True)
    if kind == "boolean":
        values = values.map({True: "true", False: "false"})
    elif kind != "string":
        values = values.map(_text, na_action="ignore")
    return values.astype(object).where(values.notna(), None)


def _dig(value, path: list[str]):
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _text(value) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(text for text in map(_text, value) if text) or None
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
