"""Identity matching: the link table first, then each configured key, never a guess.

Every source row ends in exactly one situation: linked (an earlier sync tied it to an LMS record), matched
(a key found exactly one record), unmatched (no record: a create) or conflict (two candidates, keys that
point at different records, or a weaker key contradicted by a stronger one — a different person).

Records are handled as row positions in the LMS table and keys as integer codes (reconcile/codes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rostersync_pipelines.frames import nones
from rostersync_pipelines.reconcile.codes import NONE, encode, holders, take
from rostersync_pipelines.transform.identity import fold

LINK = "link"


@dataclass
class Matches:
    lms_id: pd.Series  # chosen LMS id, None when unmatched or in conflict
    situation: pd.Series  # linked | matched | unmatched | conflict
    reason: pd.Series
    candidates: pd.DataFrame  # every candidate id per method, so a conflict's records can be left alone
    claimed: np.ndarray  # per LMS row: does any source row point at it (a candidate of any method)
    positions: np.ndarray | None = None  # row position in the LMS table of `lms_id` (-1 when None)


def key_name(key: str | list[str]) -> str:
    return key if isinstance(key, str) else "+".join(key)


def key_values(frame: pd.DataFrame, key: str | list[str]) -> pd.Series:
    """Folded key; a composite key only when every part has a value."""
    parts = [key] if isinstance(key, str) else key
    if any(part not in frame.columns for part in parts):
        return nones(frame.index)
    if len(parts) == 1:
        return fold(frame, parts[0])
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
    lms_ids = lms["id"].to_numpy(dtype=object)
    names = [LINK, *(key_name(key) for key in keys)]
    candidates = np.full((len(source), len(names)), NONE)
    ambiguous = np.zeros(len(source), dtype=bool)
    candidates[:, 0] = _linked(source_ids, links, lms_ids)
    source_codes, lms_codes = [], []
    for column, key in enumerate(keys, start=1):
        (mine, theirs), size = encode(key_values(source, key), key_values(lms, key))
        holder, count = holders(theirs, size)
        known = mine >= 0
        candidates[known, column] = np.where(count[mine[known]] == 1, holder[mine[known]], NONE)
        ambiguous[known] |= count[mine[known]] > 1
        source_codes.append(mine)
        lms_codes.append(theirs)

    claimed = np.zeros(len(lms), dtype=bool)
    claimed[candidates[candidates >= 0]] = True
    candidates = _without_claimed(candidates)
    present = candidates >= 0
    rank = np.where(present.any(axis=1), present.argmax(axis=1), NONE)
    chosen = np.where(rank >= 0, candidates[np.arange(len(source)), rank.clip(0)], NONE)
    disagree = (present & (candidates != chosen[:, None])).any(axis=1)

    conflict = nones(index)
    chosen_ids = pd.Series(take(lms_ids, chosen), index=index, dtype=object)
    if disagree.any():
        conflict[disagree] = _disagreement(candidates[disagree], names, lms_ids, noun)
    loose = ambiguous & (rank != 0) & conflict.isna().to_numpy()
    conflict[loose] = f"two LMS {noun}s share a key value: review them"
    refused = _stronger_key_differs(source_codes, lms_codes, chosen, rank, keys)
    refused &= conflict.isna().to_numpy()
    if refused.any():
        conflict[refused] = _refusal(source, lms, chosen, rank, keys, refused, noun)
    settled = np.where(conflict.isna().to_numpy(), chosen, NONE)
    counts = np.bincount(settled[settled >= 0], minlength=max(len(lms), 1))
    twice = (settled >= 0) & (counts[settled.clip(0)] > 1)
    conflict[twice] = f"two source rows match the same LMS {noun} " + chosen_ids[twice] + ": review them"

    in_conflict = conflict.notna().to_numpy()
    situation = np.full(len(source), "unmatched", dtype=object)
    situation[chosen >= 0] = "matched"
    situation[rank == 0] = "linked"
    situation[in_conflict] = "conflict"
    reason = pd.Series(f"not in the LMS: a new {noun}", index=index, dtype=object)
    via = pd.Series(take(np.array(names, dtype=object), rank), index=index, dtype=object)
    matched, linked = situation == "matched", situation == "linked"
    reason[matched] = f"matched LMS {noun} " + chosen_ids[matched] + " by " + via[matched]
    reason[linked] = f"linked to LMS {noun} " + chosen_ids[linked] + " by an earlier sync"
    reason[in_conflict] = conflict[in_conflict]
    chosen_ids[in_conflict] = None
    frame = pd.DataFrame(
        {name: take(lms_ids, candidates[:, column]) for column, name in enumerate(names)},
        index=index,
        dtype=object,  # ids as they are: no round trip through Arrow strings
    )
    positions = np.where(in_conflict, NONE, chosen)
    return Matches(
        chosen_ids, pd.Series(situation, index=index, dtype=object), reason, frame, claimed, positions
    )


def _linked(source_ids: pd.Series, links: pd.Series, lms_ids: np.ndarray) -> np.ndarray:
    """Position of the LMS record each row's link names; a link to a record that is gone is ignored."""
    if not len(links):
        return np.full(len(source_ids), NONE)
    (linked_sources, link_sources, link_targets, records), size = encode(
        source_ids, links.index.to_numpy(dtype=object), links.to_numpy(dtype=object), lms_ids
    )
    link_of, _ = holders(link_sources, size)
    record_of, _ = holders(records, size)
    target = np.where(linked_sources >= 0, link_of[linked_sources.clip(0)], NONE)
    target = np.where(target >= 0, link_targets[target.clip(0)], NONE)
    return np.where(target >= 0, record_of[target.clip(0)], NONE)


def _without_claimed(candidates: np.ndarray) -> np.ndarray:
    """Drop a weaker-key candidate that another row holds through a stronger key or its link.

    When ann keeps her login and gives up the email dan now has, dan's email points at ann's record; that
    record is ann's, so dan is a newcomer (whose email is free once ann's change applies), not a conflict.
    """
    present = candidates >= 0
    has = present.any(axis=1)
    if not has.any():
        return candidates
    rows = np.arange(len(candidates))
    rank = present.argmax(axis=1)
    first = candidates[rows, rank]
    size = candidates.max() + 1
    owner_rank = np.full(size, len(candidates[0]) + 1)
    np.minimum.at(owner_rank, first[has], rank[has])
    owner_row = np.full(size, NONE)
    owning = np.flatnonzero(has & (rank == owner_rank[first.clip(0)]))[::-1]
    owner_row[first[owning]] = owning  # reversed: the first owning row wins
    cleaned = candidates.copy()
    for column in range(candidates.shape[1]):
        record = candidates[:, column]
        known = record >= 0
        elsewhere = known & (owner_rank[record.clip(0)] < column) & (owner_row[record.clip(0)] != rows)
        cleaned[elsewhere, column] = NONE
    return cleaned


def _stronger_key_differs(source_codes, lms_codes, chosen: np.ndarray, rank: np.ndarray, keys) -> np.ndarray:
    """A match by email is refused when both sides have a user_unique_key and the two differ."""
    refused = np.zeros(len(chosen), dtype=bool)
    for position in range(len(keys) - 1):
        weaker = rank > position + 1  # rank 0 is the link: never second-guessed
        if not weaker.any():
            continue
        mine = source_codes[position]
        theirs = np.where(chosen >= 0, lms_codes[position][chosen.clip(0)], NONE)
        refused |= weaker & (mine >= 0) & (theirs >= 0) & (mine != theirs)
    return refused


def _refusal(source, lms, chosen, rank, keys, refused: np.ndarray, noun: str) -> list[str]:
    """'matched LMS user 12 by email, but its user_unique_key differs (e1 vs e9): a different person'."""
    messages = []
    lms_ids = lms["id"].to_numpy(dtype=object)
    names = [key_name(key) for key in keys]
    for row in np.flatnonzero(refused):
        record = chosen[row]
        for position, key in enumerate(keys[: rank[row] - 1]):
            mine = key_values(source.iloc[[row]], key).iloc[0]
            theirs = key_values(lms.iloc[[record]], key).iloc[0]
            if mine is not None and theirs is not None and mine != theirs:
                shown = mine.replace("\x1f", "+"), theirs.replace("\x1f", "+")
                messages.append(
                    f"matched LMS {noun} {lms_ids[record]} by {names[rank[row] - 1]}, but its {names[position]} "
                    f"differs ({shown[0]} vs {shown[1]}): a different person"
                )
                break
    return messages


def _disagreement(candidates: np.ndarray, names: list[str], lms_ids: np.ndarray, noun: str) -> list[str]:
    """'keys point at different LMS users: link -> 12, email -> 40' (only conflicting rows: few)."""
    return [
        f"keys point at different LMS {noun}s: "
        + ", ".join(
            f"{name} -> {lms_ids[record]}" for name, record in zip(names, row, strict=True) if record >= 0
        )
        for row in candidates
    ]
