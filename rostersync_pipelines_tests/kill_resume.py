"""What the kill-and-resume test needs for each API target: a roster, a config, and one view of each fake.

Each `Lms` starts its fake with a per-call latency so an apply of about a thousand people lasts long
enough to be killed half way, and answers the same questions of every fake: how many people have landed,
who is there (id, login, email), how many write calls it has taken. The roster is generated here rather
than by benchmarks/dataset.py, whose 10,000 people and 2,000 departments would take an API fake minutes.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from rostersync_pipelines_tests.fakes.ispring import IspringFake
from rostersync_pipelines_tests.fakes.scim import ScimPeer
from rostersync_pipelines_tests.fakes.talentlms import FakeTalentLms

LATENCY = 0.02  # seconds per call, reads and writes
TEAMS = ["Team Alpha", "Team Bravo", "Team Charlie", "Team Delta", "Team Echo", "Team Foxtrot"]
ROOTS, CHILDREN = 3, 9
FIELDS = {
    "users": {
        "user_unique_key": "EmployeeId",
        "login": "Login",
        "email": "WorkEmail",
        "first_name": "FirstName",
        "last_name": "LastName",
        "department": "DepartmentCode",
        "manager": "ManagerLogin",
        "status": "Status",
        "groups": "Team",
    },
    "departments": {
        "department_unique_key": "DepartmentId",
        "code": "Code",
        "name": "Name",
        "parent": "ParentCode",
    },
}
FAST = {"calls": 10_000, "per_seconds": 1}  # the fake's latency, not the pacing, sets the apply's length


def write_roster(folder: Path, people: int) -> tuple[Path, Path]:
    """users.csv and departments.csv: a two-level tree, half the people in six teams, one in ten with a
    manager (created earlier in the same plan)."""
    codes = [f"DEP{n:02d}" for n in range(ROOTS + CHILDREN)]
    departments = folder / "departments.csv"
    with departments.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["DepartmentId", "Code", "Name", "ParentCode"])
        for n, code in enumerate(codes):
            writer.writerow([f"D{n:03d}", code, f"Department {n}", codes[n % ROOTS] if n >= ROOTS else ""])
    users = folder / "users.csv"
    with users.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["EmployeeId", "Login", "WorkEmail", "FirstName", "LastName", "DepartmentCode",
                         "ManagerLogin", "Status", "Team"])  # fmt: skip
        for n in range(people):
            login = f"k{n:05d}"
            manager = f"k{n % 40:05d}" if n >= 40 and n % 10 == 0 else ""
            team = TEAMS[n % len(TEAMS)] if n % 2 else ""
            name, department = (f"First{n % 97}", f"Last{n % 89}"), codes[n % len(codes)]
            writer.writerow(
                [f"E{n:05d}", login, f"{login}@example.com", *name, department, manager, "Active", team]
            )
    return users, departments


def write_config(folder: Path, users: Path, departments: Path, target: dict) -> Path:
    sync = {
        "sources": {
            "users": {"kind": "file", "path": str(users)},
            "departments": {"kind": "file", "path": str(departments)},
        },
        "fields": FIELDS,
        "policies": {"protected_logins": ["admin"]},
        "safety": {"max_deactivations": "100%", "max_department_deletions": 100},
        "target": {**target, "rate_limit": FAST},
    }
    config = {
        "state": {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")},
        "syncs": {"staff": sync},
    }
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Lms:
    """One API target: its fake, the host it answers on, its config block and secrets, and what it holds."""

    kind: str
    fake: object
    host: str
    target: dict
    secrets: dict[str, str]
    landed: Callable[[], int]  # people created so far (safe to call while the fake is being written)
    people: Callable[[], list[tuple[str, str, str]]]  # (id, login, email) of every person it holds
    writes: Callable[[], int]


def talentlms() -> Lms:
    portal = FakeTalentLms(api_key="kill-test-key", rate_limit=(100_000, 1.0), latency=LATENCY)
    target = {"kind": "talentlms", "url": "https://acme.talentlms.com", "api_key": "${TALENTLMS_API_KEY}"}

    def landed() -> int:
        return len(portal.users) - 1  # the portal's own SuperAdmin is not one of ours

    def people():
        with portal.lock:
            users = list(portal.users.values())
        return [(u["id"], u["login"], u["email"]) for u in users if u["user_type"] != "SuperAdmin"]

    secrets = {"TALENTLMS_API_KEY": portal.api_key}
    return Lms("talentlms", portal, "acme.talentlms.com", target, secrets, landed, people, portal.write_calls)


def ispring() -> Lms:
    fake = IspringFake(client_id="kill-test-id", client_secret="kill-test-secret", latency=LATENCY)
    target = {
        "kind": "ispring",
        "url": "https://api-learn.ispringlearn.com",
        "client_id": "${ISPRING_CLIENT_ID}",
        "client_secret": "${ISPRING_CLIENT_SECRET}",
    }

    def people():
        with fake.lock:
            users = list(fake.users.values())
        return [(u["userId"], u["fields"]["login"], u["fields"].get("email")) for u in users]

    def writes() -> int:
        with fake.lock:
            return len(fake.write_calls())

    secrets = {"ISPRING_CLIENT_ID": fake.client_id, "ISPRING_CLIENT_SECRET": fake.client_secret}
    return Lms(
        "ispring", fake, "api-learn.ispringlearn.com", target, secrets, fake.users.__len__, people, writes
    )


def scim() -> Lms:
    peer = ScimPeer(token="kill-test-token", latency=LATENCY)
    target = {"kind": "scim", "url": "https://lms.example.com/scim/v2", "token": "${SCIM_TOKEN}"}

    def users() -> list:
        with peer.storage.lock:
            return [r for r in peer.storage.resources if r.meta and r.meta.resource_type == "User"]

    def landed() -> int:
        return len(users())

    def people():
        return [(u.id, u.user_name, u.emails[0].value if u.emails else None) for u in users()]

    def writes() -> int:
        return peer.writes

    secrets = {"SCIM_TOKEN": "kill-test-token"}
    return Lms("scim", peer, "lms.example.com", target, secrets, landed, people, writes)


TARGETS = {"talentlms": talentlms, "ispring": ispring, "scim": scim}
