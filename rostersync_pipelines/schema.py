"""Canonical column names, in one place, so sources, rules, reconcile and targets agree on them."""

ROW = "__row__"  # the source row number a person sees in the file (header = row 1)

USER_COLUMNS = [
    "user_unique_key",
    "login",
    "email",
    "first_name",
    "last_name",
    "department",
    "manager",
    "functional_manager",
    "status",
    "termination_date",
    "groups",
]
CUSTOM_PREFIX = "custom."
USER_KEYS = ["user_unique_key", "login", "email"]

DEPARTMENT_COLUMNS = ["department_unique_key", "code", "name", "parent"]
DEPARTMENT_KEYS = ["department_unique_key", "code"]

# outcome: rejected (bad row: its LMS account is left as it is), not_synced (a policy keeps it out and its
# account as it is), out_of_scope (an import rule skipped it: its account counts as missing from the source).
REJECT_COLUMNS = ["source", "row", "key", "outcome", "reason", *USER_KEYS, *DEPARTMENT_KEYS]
REJECTED, NOT_SYNCED, OUT_OF_SCOPE = "rejected", "not_synced", "out_of_scope"

GROUP_COLUMNS = ["name", "members"]
GROUP_SEPARATOR = ";"
