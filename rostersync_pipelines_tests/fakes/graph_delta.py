"""The `/users/delta` side of the fake Graph (fakes/graph.py): rounds, tokens, pages and their refusals.

A token is `{"b": base version, "u": the version the round reads up to, "a": the last serial served,
"s": the $select, "n": the token's issue number}` in URL-safe base64: opaque to the client, as Graph's are.
A full round (b = 0) lists every user alive; a round from a delta link lists the users with a change to a
selected property in (b, u], deleted ones as `@removed`. Changes made while a round is paged show up in
their latest state and again in the next round (Graph replays too).
"""

from __future__ import annotations

import base64
import bisect
import json
import re

USER_TYPE = "#microsoft.graph.user"


def encode_token(state: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, keys=("b", "u", "a", "s")) -> dict | None:
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return state if isinstance(state, dict) and set(keys) <= state.keys() else None


def error(status: str, code: str, message: str, headers=()):
    return (
        status,
        {"error": {"code": code, "message": message, "innerError": {"request-id": "fake"}}},
        list(headers),
    )


class DeltaFeed:
    """Mixed into FakeGraph: needs records, changes, version, properties, page size and the knobs."""

    def _delta(self, query: dict, prefer: str):
        unsupported = [name for name in ("$top", "$expand", "$orderby") if name in query]
        if unsupported:
            return error(
                "400 Bad Request",
                "Request_UnsupportedQuery",
                f"{unsupported[0]} is not supported with delta.",
            )
        if "$skiptoken" in query:
            if "$select" in query:
                return error(
                    "400 Bad Request", "Request_BadRequest", "$select is not supported with $skiptoken."
                )
            state = decode_token(query["$skiptoken"])
            if state is None:
                return error("400 Bad Request", "Request_BadRequest", "Invalid skip token.")
        elif "$deltatoken" in query:
            previous = decode_token(query["$deltatoken"])
            if previous is None:
                return error("400 Bad Request", "Request_BadRequest", "Invalid delta token.")
            if previous.get("n", 0) <= self.expired_before:
                return self._refuse_expired()
            state = {"b": previous["u"], "u": self.version, "a": -1, "s": previous["s"]}
        else:
            select = self._select(query.get("$select"))
            if isinstance(select, tuple):
                return select
            state = {"b": 0, "u": self.version, "a": -1, "s": select}
        if self.delta_pages_left is not None:
            if self.delta_pages_left <= 0:
                return error(
                    "503 Service Unavailable",
                    "serviceNotAvailable",
                    "Service unavailable.",
                    [("Retry-After", "0")],
                )
            self.delta_pages_left -= 1
        return self._page(state, self._page_size(prefer))

    def _select(self, text: str | None):
        if not text:
            return ["id", *self.default_select]
        names = []
        for name in text.split(","):
            known = self.properties.get(name.strip().casefold())
            if known is None:
                return error(
                    "400 Bad Request",
                    "Request_BadRequest",
                    f"Parsing OData Select and Expand failed: Could not find a property named '{name.strip()}' "
                    "on type 'microsoft.graph.user'.",
                )
            names.append(known)
        return list(dict.fromkeys(["id", *names]))

    def _refuse_expired(self):
        if self.expiry == "gone":
            location = f"https://{self.graph_host}/v1.0/users/delta?$deltatoken="
            return error("410 Gone", "resyncRequired", "Resync required.", [("Location", location)])
        return error(
            "400 Bad Request",
            "syncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must be synchronized again.",
        )

    def _page_size(self, prefer: str) -> int:
        asked = re.search(r"odata\.maxpagesize=(\d+)", prefer)
        return max(1, min(int(asked.group(1)), self.max_page_size)) if asked else self.max_page_size

    def _page(self, state: dict, size: int):
        base, upto, after, select = state["b"], state["u"], state["a"], state["s"]
        link = f"https://{self.graph_host}/v1.0/users/delta"
        context = f"https://{self.graph_host}/v1.0/$metadata#users({','.join(select)})"
        if state.get("e", 0) < self.empty_pages:
            token = encode_token({**state, "e": state.get("e", 0) + 1})
            return (
                "200 OK",
                {"@odata.context": context, "@odata.nextLink": f"{link}?$skiptoken={token}", "value": []},
                [],
            )
        if base == 0:
            changed = None
            serials = (user.serial for user in self.records[after + 1 :] if user.deleted_at is None)
        else:
            window = self.changes[bisect.bisect_right(self.changes, (base, 1 << 62)) :]
            changed = {}
            for version, serial, name in window:
                if version <= upto and (name == "*" or name in select):
                    changed.setdefault(serial, set()).add(name)
            serials = iter(sorted(serial for serial in changed if serial > after))
        items, last = [], after
        for serial in serials:
            if len(items) == size:
                break
            items.append(self._render(self.records[serial], select, changed))
            last = serial
        else:
            last = None
        body = {
            "@odata.context": f"https://{self.graph_host}/v1.0/$metadata#users({','.join(select)})",
            "value": items,
        }
        link = f"https://{self.graph_host}/v1.0/users/delta"
        if last is not None:
            body["@odata.nextLink"] = f"{link}?$skiptoken={encode_token({**state, 'a': last})}"
        else:
            self.token_serial += 1
            token = encode_token({"b": 0, "u": upto, "a": -1, "s": select, "n": self.token_serial})
            body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        return "200 OK", body, []

    def _render(self, user, select: list[str], changed: dict | None) -> dict:
        if user.deleted_at is not None:
            return {"id": user.id, "@removed": {"reason": "changed"}}
        item = {
            name: user.properties.get(name)
            for name in select
            if name not in ("id", "manager")
            and (user.properties.get(name) is not None or name in user.ever_set)
        }
        item["id"] = user.id
        names = None if changed is None else changed[user.serial]
        if "manager" in select and (names is None or "*" in names or "manager" in names):
            if user.manager:
                item["manager@delta"] = [{"@odata.type": USER_TYPE, "id": user.manager}]
            elif names is not None and user.previous_manager:
                removed = {
                    "@odata.type": USER_TYPE,
                    "id": user.previous_manager,
                    "@removed": {"reason": "deleted"},
                }
                item["manager@delta"] = [removed]
        return item
