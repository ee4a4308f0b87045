"""Identity matching: the link table first, then each configured key, never a guess.

Every source row ends in exactly one situation: linked (an earlier sync tied it to an LMS record), matched
(a key found exactly one record), unmatched (no record: a create) or conflict (two candidates, keys that
point at different records, or a weaker key contradicted by a stronger one — a different person).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rostersync_pipelines.frames import lookup, nones
from rostersync_pipelines.transform.identity import fold

LINK = "link"


@dataclass
class Matches:
    lms_id: pd.Series  # chosen LMS id, None when unmatched or in conflict
    situation: pd.Series  # linked | matched | unmatched | conflict
    reason: pd.Series
    candidates: pd.DataFrame  # every candidate id per method, so a conflict's records can be left alone


def key_name(key: str | list[str]) -> str:
    return key if isinstance(key, str) else "+".join(key)


def key_values(frame: pd.DataFrame, key: str | list[str]) -> pd.Series:
    """Folded key; a composite key only when every part has a value."""
    parts = [key] if isinstance(key, str) else key
    if any(part not in frame.columns for part in parts):
        return nones(frame.index)
    values = fold(frame, parts[0])
    for part in parts[1:]:
        values = values + "\x1f" + fold(frame, part)
    return values.astype(object).where(values.notna(), None)


def match(
    source: pd.DataFrame,
    lms: pd.DataFrame,
    keys: list[str | list[str]],
    source_ids: pd.Series,
    links: pd.Series,
    noun: str,
) -> Matches:
    """Match source rows to LMS records. `links` maps source id -> LMS id; `noun` names records in reasons."""
    index = source.index
    lms_ids = lms["id"].astype(object)
    candidates = pd.DataFrame(index=index)
    ambiguous = pd.Series(False, index=index)
    linked = source_ids.map(lookup(links.index, links)) if len(links) else nones(index)
    candidates[LINK] = linked.where(linked.isin(set(lms_ids)), None).astype(object)
    lms_keys = {}
    for key in keys:
        name = key_name(key)
        lms_values = key_values(lms, key)
        lms_keys[name] = lookup(lms_ids, lms_values)
        shared = lms_values.notna() & lms_values.duplicated(keep=False)
        source_values = key_values(source, key)
        candidates[name] = source_values.map(lookup(lms_values[~shared], lms_ids[~shared]))
        ambiguous |= source_values.isin(set(lms_values[shared]))

    candidates = _without_claimed(candidates)
    present = candidates.notna()
    chosen = candidates.bfill(axis=1).iloc[:, 0].astype(object)
    via = present.idxmax(axis=1).astype(object).where(present.any(axis=1), None)
    disagree = (present & candidates.ne(chosen, axis=0)).any(axis=1)
    situation = pd.Series("unmatched", index=index, dtype=object)
    situation[chosen.notna()] = "matched"
    situation[via == LINK] = "linked"
    reason = pd.Series(f"not in the LMS: a new {noun}", index=index, dtype=object)
    reason[situation == "matched"] = f"matched LMS {noun} " + chosen + " by " + via
    reason[situation == "linked"] = f"linked to LMS {noun} " + chosen + " by an earlier sync"

    conflict = nones(index)
    conflict[disagree] = _disagreement(candidates[disagree], noun)
    conflict[ambiguous & (via != LINK) & conflict.isna()] = f"two LMS {noun}s share a key value: review them"
    conflict = conflict.combine_first(_stronger_key_differs(source, chosen, via, keys, lms_keys, noun))
    claimed = chosen.where(conflict.isna(), None)
    twice = claimed.notna() & claimed.duplicated(keep=False)
    conflict[twice] = f"two source rows match the same LMS {noun} " + claimed[twice] + ": review them"

    in_conflict = conflict.notna()
    situation[in_conflict] = "conflict"
    reason[in_conflict] = conflict[in_conflict]
    chosen = chosen.where(~in_conflict & chosen.notna(), None).astype(object)
    return Matches(chosen, situation, reason, candidates)


def _without_claimed(candidates: pd.DataFrame) -> pd.DataFrame:
    """Drop a weaker-key candidate that another row holds through a stronger key or its link.

    When ann keeps her login and gives up the email dan now has, dan's email points at ann's record; that
    record is ann's, so dan is a newcomer (whose email is free once ann's change applies), not a conflict.
    """
    present = candidates.notna()
    if not present.any().any():
        return candidates
    rank = present.to_numpy().argmax(axis=1)
    first = candidates.bfill(axis=1).iloc[:, 0]
    owners = pd.DataFrame({"id": first.to_numpy(), "rank": rank, "row": np.arange(len(first))})
    owners = owners[owners["id"].notna()].sort_values("rank", kind="stable").drop_duplicates("id")
    owner_rank, owner_row = lookup(owners["id"], owners["rank"]), lookup(owners["id"], owners["row"])
    cleaned = candidates.copy()
    rows = np.arange(len(candidates))
    for position, column in enumerate(candidates.columns):
        theirs = candidates[column].map(owner_rank)
        elsewhere = (theirs < position) & (candidates[column].map(owner_row).to_numpy() != rows)
        cleaned.loc[elsewhere.to_numpy(), column] = None
    return cleaned


def _disagreement(candidates: pd.DataFrame, noun: str) -> pd.Series:
    """'keys point at different LMS users: link -> 12, email -> 40' (only conflicting rows: few)."""
    return pd.Series(
        [
            f"keys point at different LMS {noun}s: "
            + ", ".join(f"{name} -> {value}" for name, value in row.items() if value is not None)
            for row in candidates.astype(object).where(candidates.notna(), None).to_dict("records")
        ],
        index=candidates.index,
        dtype=object,
    )


def _stronger_key_differs(
    source: pd.DataFrame,
    chosen: pd.Series,
    via: pd.Series,
    keys: list[str | list[str]],
    lms_keys: dict[str, pd.Series],
    noun: str,
) -> pd.Series:
    """A match by email is refused when both sides have a user_unique_key and the two differ."""
    names = [key_name(key) for key in keys]
    rank = via.map({name: position for position, name in enumerate(names)})
    refused = nones(source.index)
    for position, key in enumerate(keys[:-1]):
        name = names[position]
        weaker = rank > position
        if not weaker.any():
            continue
        mine = key_values(source, key)
        theirs = chosen.map(lms_keys[name])
        differs = weaker & mine.notna() & theirs.notna() & (mine != theirs) & refused.isna()
        refused[differs] = (
            f"matched LMS {noun} "
            + chosen[differs]
            + " by "
            + via[differs]
            + f", but its {name} differs ("
            + mine[differs].str.replace("\x1f", "+")
            + " vs "
            + theirs[differs].str.replace("\x1f", "+")
            + "): a different person"
        )
    return refused
