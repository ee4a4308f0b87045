"""Raw source tables -> canonical users, departments, groups and the rejects, per the sync's config."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rostersync_pipelines.config import Sync
from rostersync_pipelines.frames import lookup
from rostersync_pipelines.schema import CUSTOM_PREFIX, GROUP_SEPARATOR, OUT_OF_SCOPE
from rostersync_pipelines.transform.departments import normalize_departments
from rostersync_pipelines.transform.identity import folded
from rostersync_pipelines.transform.mapping import clean_text, select_columns
from rostersync_pipelines.transform.rejects import concat_rejects, split_off
from rostersync_pipelines.transform.rules import skipped_by_rules
from rostersync_pipelines.transform.users import normalize_users


@dataclass
class Canonical:
    users: pd.DataFrame
    departments: pd.DataFrame | None  # None when the sync has no departments source
    groups: pd.DataFrame
    rejects: pd.DataFrame


def normalize(raw_users: pd.DataFrame, raw_departments: pd.DataFrame | None, sync: Sync) -> Canonical:
    rejects = []
    departments = None
    department_codes = None
    department_problems: dict[str, str] = {}
    if raw_departments is not None and sync.fields.departments is not None:
        mapping = sync.fields.departments.model_dump()
        departments, rejected = normalize_departments(select_columns(raw_departments, mapping, "departments"))
        rejects.append(rejected)
        department_codes = lookup(
            pd.concat([folded(departments["code"]), folded(departments["department_unique_key"])]),
            pd.concat([departments["code"], departments["code"]]),
        )
        department_problems = {
            key: f"was rejected (departments row {row}: {reason})"
            for key, row, reason in zip(
                folded(rejected["code"]), rejected["row"], rejected["reason"], strict=True
            )
            if key is not None
        }

    skip_reason = skipped_by_rules(raw_users, sync.rules, "users")
    mapping = sync.fields.users.model_dump(exclude={"custom"})
    mapping |= {CUSTOM_PREFIX + name: columns for name, columns in sync.fields.users.custom.items()}
    mapped = select_columns(raw_users, mapping, "users")
    mapped, skipped = split_off(
        mapped,
        skip_reason.reset_index(drop=True).notna(),
        skip_reason.reset_index(drop=True),
        "users",
        OUT_OF_SCOPE,
    )
    rejects.append(skipped)
    users, rejected = normalize_users(
        mapped, department_codes, department_problems, sync.policies, sync.status_values
    )
    rejects.append(rejected)
    return Canonical(
        users=users, departments=departments, groups=group_table(users), rejects=concat_rejects(rejects)
    )


def group_table(users: pd.DataFrame) -> pd.DataFrame:
    """One group per distinct field value (several values split on ';'), with its member count."""
    names = user_groups(users)["group"]
    counts = names.value_counts(sort=False)
    return pd.DataFrame({"name": counts.index.astype(object), "members": counts.to_numpy()}).sort_values(
        "name", ignore_index=True
    )


def user_groups(users: pd.DataFrame) -> pd.DataFrame:
    """(login, group) pairs, one per membership the source asks for.

    Only the few values that name several groups are split; the rest are already one pair each.
    """
    named = users[users["groups"].notna()]
    several = named["groups"].str.contains(GROUP_SEPARATOR, regex=False).to_numpy(dtype=bool)
    single = pd.DataFrame({"login": named["login"][~several], "group": named["groups"][~several]})
    split = pd.DataFrame(
        {"login": named["login"][several], "group": named["groups"][several].str.split(GROUP_SEPARATOR)}
    ).explode("group")
    split["group"] = clean_text(split["group"])
    pairs = pd.concat([single, split[split["group"].notna()]], ignore_index=True).astype(object)
    return pairs.drop_duplicates(ignore_index=True) if several.any() else pairs
