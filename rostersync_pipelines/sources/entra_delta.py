"""The tenant's users as last read (the picture), brought up to date by rounds of Graph's `/users/delta`.

The delta feed says only what changed, while every sync needs the whole roster. So the picture (every user
of the tenant with the selected attributes, in scope or not, because a manager may sit outside the scope)
is stored in the state database beside the delta link that continues it, and each round merges into it.
Records are merged one at a time because that is what the feed is: per-user changes where an attribute left
out means "unchanged", `@removed` means gone, and a later record for the same user wins (replays happen).
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.entra_graph import DeltaLinkUnusable, Graph, GraphError

MANAGER = "manager"
# Graph caps the page (about 200 users); asking for more lets it send its largest page
PREFER = {"Prefer": "odata.maxpagesize=999"}
PICTURE_VERSION = 2


@dataclass
class Picture:
    """Columns of equal length, one row per user ever seen this round; a removed user's id becomes None.

    Columnar so that a stored picture of 100,000 users loads and becomes a DataFrame without building a
    dict per user; the `position` index makes merging one changed user a few list assignments.
    """

    attributes: list[str]  # the selected user attributes in Graph's spelling, without id and manager
    ids: list[str | None] = field(default_factory=list)
    values: dict[str, list] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        for name in self.columns:
            self.values.setdefault(name, [None] * len(self.ids))
        if not self.position:
            self.position = {user_id: row for row, user_id in enumerate(self.ids) if user_id is not None}

    @property
    def columns(self) -> list[str]:
        return [*self.attributes, MANAGER]

    def __len__(self) -> int:
        return len(self.position)

    def merge(self, record: dict) -> None:
        user_id = record.get("id")
        if not user_id:
            return
        row = self.position.get(user_id)
        if "@removed" in record:
            if row is not None:
                self.ids[row] = None
                del self.position[user_id]
            return
        if row is None:
            row = self.position[user_id] = len(self.ids)
            self.ids.append(user_id)
            for column in self.values.values():
                column.append(None)
        for name in self.attributes:
            if name in record:
                self.values[name][row] = record[name]
        if "manager@delta" in record:
            self.values[MANAGER][row] = manager_of(record["manager@delta"])

    def fill(self, records: list[dict]) -> None:
        """An empty picture filled with whole users (a full round: one record per user, none removed)."""
        self.ids = [record["id"] for record in records]
        self.position = {user_id: row for row, user_id in enumerate(self.ids)}
        self.values = {name: [record.get(name) for record in records] for name in self.attributes}
        self.values[MANAGER] = [manager_of(record.get("manager@delta")) for record in records]

    def alive(self) -> tuple[list[str], dict[str, list]]:
        """The users present, as (ids, columns), removed rows left out."""
        if len(self.position) == len(self.ids):
            return self.ids, self.values
        keep = [row for row, user_id in enumerate(self.ids) if user_id is not None]
        return [self.ids[row] for row in keep], {
            name: [column[row] for row in keep] for name, column in self.values.items()
        }


def manager_of(links: list | None) -> str | None:
    """`manager@delta` lists the manager; an entry marked `@removed` takes a manager away."""
    present = [link.get("id") for link in links or [] if "@removed" not in link and link.get("id")]
    return present[-1] if present else None


def initial_url(root: str, attributes: list[str]) -> str:
    return f"{root}/users/delta?$select={','.join(['id', *attributes, MANAGER])}"


def refresh(
    graph: Graph, attributes: list[str], delta_link: str | None, stored: Picture | None
) -> tuple[Picture, str, str]:
    """(the current picture, the delta link that continues it, "delta" or "full").

    A link Graph refuses (410 resync, expired sync state, any 400) or one from another cloud starts a full
    read from our own first URL: Graph's 410 Location is that same first query, and ours also carries the
    current $select.
    """
    if delta_link and stored is not None and urlsplit(delta_link).hostname == graph.host:
        try:
            return stored, run_round(graph, delta_link, stored), "delta"
        except DeltaLinkUnusable:
            pass
        except GraphError as error:
            if error.status != 400:
                raise
    picture = Picture(attributes)
    return picture, run_round(graph, initial_url(graph.root, attributes), picture), "full"


def run_round(graph: Graph, url: str, picture: Picture) -> str:
    """Merge one round of pages into `picture`; a page may be empty and still carry a nextLink.

    A full round into an empty picture keeps the last record per user and builds each column in one
    pass at the end, which is several times faster than merging 100,000 records one by one.
    """
    delta_link, latest = None, {}
    for page in graph.pages(url, PREFER):
        records = page.get("value") or []
        if len(picture):
            for record in records:
                picture.merge(record)
        else:
            latest.update((record.get("id"), record) for record in records)
        delta_link = page.get("@odata.deltaLink")
    if latest:
        picture.fill([record for user_id, record in latest.items() if user_id and "@removed" not in record])
    if not delta_link:
        raise SourceError(f"{graph.where}: Graph ended /users/delta without a deltaLink; sync again")
    return delta_link


def has_changes(graph: Graph, delta_link: str) -> bool:
    """Did any user come back since `delta_link`? Stops at the first page with a value; stores nothing."""
    return any(page.get("value") for page in graph.pages(delta_link, PREFER))


def encode(picture: Picture) -> str:
    """Compact text for the state database: columnar JSON, compressed (100,000 users: about 4 MB)."""
    ids, values = picture.alive()
    data = json.dumps(
        {"version": PICTURE_VERSION, "attributes": picture.attributes, "ids": ids, "columns": values},
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return base64.b64encode(zlib.compress(data.encode("utf-8"), 1)).decode("ascii")


def decode(text: str | None, attributes: list[str]) -> Picture | None:
    """The stored picture, or None when there is none or it was taken with other attributes."""
    if not text:
        return None
    try:
        data = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (ValueError, zlib.error, binascii.Error):
        return None
    if data.get("version") != PICTURE_VERSION or data.get("attributes") != attributes:
        return None
    columns = data.get("columns") or {}
    if any(len(columns.get(name, ())) != len(data["ids"]) for name in [*attributes, MANAGER]):
        return None
    return Picture(list(attributes), data["ids"], columns)
