"""Who is in scope: the user members, direct or nested, of the configured groups, read afresh every sync.

Membership is re-read rather than tracked with `/groups/delta`: that feed reports direct members only, so
people in a nested group (the reason to ask for transitive members) would be missed, and reading a group's
members costs one call per 999 of them, small beside reading the users themselves.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import quote

import numpy as np
import pandas as pd

from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.entra_graph import Graph

OBJECT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
MEMBERS_PAGE = 999  # the largest page Graph serves for directory links


@dataclass(frozen=True)
class ScopeGroup:
    id: str
    name: str
    members: frozenset[str]


def read_scope(graph: Graph, wanted: list[str]) -> list[ScopeGroup]:
    scope = []
    for value in wanted:
        group = find_group(graph, value.strip())
        url = (
            f"{graph.root}/groups/{group['id']}/transitiveMembers/microsoft.graph.user"
            f"?$select=id&$top={MEMBERS_PAGE}"
        )
        members = frozenset(item["id"] for page in graph.pages(url) for item in page.get("value") or [])
        scope.append(ScopeGroup(group["id"], group.get("displayName") or group["id"], members))
    return scope


def find_group(graph: Graph, value: str) -> dict:
    """A group by object id, else by display name (which must name exactly one group)."""
    if OBJECT_ID.fullmatch(value):
        group = graph.get(f"{graph.root}/groups/{value}?$select=id,displayName", missing_ok=True)
        if group is None:
            raise SourceError(f"{graph.where}: no group has the object id {value}; check groups")
        return group
    condition = quote("displayName eq '{}'".format(value.replace("'", "''")), safe="")
    found = [
        group
        for page in graph.pages(f"{graph.root}/groups?$filter={condition}&$select=id,displayName")
        for group in page.get("value") or []
    ]
    if not found:
        raise SourceError(
            f"{graph.where}: no group is named '{value}'; check groups (a name or an object id)"
        )
    if len(found) > 1:
        raise SourceError(
            f"{graph.where}: {len(found)} groups are named '{value}'; write the object id of the one you mean"
        )
    return found[0]


def in_scope(user_ids: pd.Index, scope: list[ScopeGroup] | None) -> np.ndarray:
    if scope is None:
        return np.ones(len(user_ids), dtype=bool)
    members = frozenset().union(*(group.members for group in scope))
    return user_ids.isin(members)


def group_names(user_ids: pd.Index, scope: list[ScopeGroup] | None) -> pd.Series:
    """The names of the scope groups each user is in, `;`-joined in the order of the config."""
    joined = np.full(len(user_ids), "", dtype=object)
    for group in scope or []:
        member = user_ids.isin(group.members)
        extended = np.where(joined == "", group.name, joined + ";" + group.name)
        joined = np.where(member, extended, joined)
    names = pd.Series(joined, index=user_ids, dtype=object)
    return names.where(names != "", None)


def scope_digest(scope: list[ScopeGroup] | None) -> str | None:
    """A fingerprint of the scope, so the changes sensor sees people join or leave a group."""
    if scope is None:
        return None
    digest = hashlib.sha256()
    for group in sorted(scope, key=lambda group: group.id):
        digest.update(f"{group.id}\n{group.name}\n".encode())
        digest.update("\n".join(sorted(group.members)).encode())
    return digest.hexdigest()
