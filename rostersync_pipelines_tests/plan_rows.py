"""Plan rows built by hand, for tests of the apply engine that need no source or reconcile step."""

from __future__ import annotations

import pandas as pd


def user_creates(logins: list[str], prefix: str = "u") -> pd.DataFrame:
    """One `users create` row per login, keyed <prefix><n>, indexed by seq as the engine expects."""
    count = len(logins)
    return pd.DataFrame(
        {
            "seq": range(count),
            "entity": "users",
            "action": "create",
            "situation": "unmatched",
            "key": [f"{prefix}{n}" for n in range(count)],
            "lms_id": None,
            "source_id": [f"E{n}" for n in range(count)],
            "held": False,
            "error": None,
            "changes": None,
            "values": [{"login": login} for login in logins],
            "order": 0,
        }
    ).set_index("seq", drop=False)
