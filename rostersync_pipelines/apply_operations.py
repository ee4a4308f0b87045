"""From a plan row to the `Operation` an LMS is sent: references to records this plan created, resolved.

A plan names a department, manager or group it creates itself as `new:<key>` (reconcile/references.py);
by the time the change goes out, the engine knows the LMS id each create got, and a reference whose create
failed refuses the change with a message that says so, rather than sending a dangling id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rostersync_pipelines.reconcile.references import is_pending
from rostersync_pipelines.targets.base import Operation

USER_REFERENCES = ("manager_id", "functional_manager_id")
# every value naming another record, in the order they are resolved (the first that fails names the refusal)
REFERENCES = {
    "department_id": "departments",
    "parent_id": "departments",
    "manager_id": "users",
    "functional_manager_id": "users",
    "user_id": "users",
}
REFERENCE_NAMES, REFERENCE_SET = tuple(REFERENCES), frozenset(REFERENCES)
LMS_ACTIONS = {"move": "update", "deactivate": "update", "reactivate": "update"}


@dataclass
class Task:
    seq: int
    part: int  # 0 the change itself, 1 its manager follow-up
    row: dict
    values: dict
    action: str
    recheck: bool = False  # a create that may have reached the LMS already: look it up first


def operation(
    resolve: Callable[[str, object], object], entity: str, action: str, lms_id, values: dict
) -> Operation:
    """The LMS call for one change; `resolve(entity, value)` turns a pending reference into an LMS id
    (raising TargetError when its create did not land). Targets only read an operation's values, so
    they are copied only when a reference in them is replaced: a first load resolves a million of them."""
    present = REFERENCE_SET.intersection(values)  # most values name no other record: one set operation
    pending = (
        [name for name in REFERENCE_NAMES if name in present and is_pending(values[name])] if present else ()
    )
    if pending:
        values = dict(values)
        for name in pending:
            values[name] = resolve(REFERENCES[name], values[name])
    if entity == "groups" and action in ("add_member", "remove_member"):
        return Operation("group_members", action, resolve("groups", lms_id), values)
    return Operation(entity, LMS_ACTIONS.get(action, action), lms_id, values)
