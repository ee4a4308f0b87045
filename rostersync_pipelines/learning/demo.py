"""`make run`'s learning step: sample learning records for the demo company, then `learning-sync` over them.

The demo LMS is filled by the roster sync, but an LMS's learning history comes from people taking courses,
so this module plays that part once: when a sync's embedded LMS holds no learning records yet, its active
learners get deterministic course progress, certificates and badges dated in the first week of January
2026 (a fixed seed and fixed days, so every `make run` prints the same numbers). It then delivers that
week with `rostersync learning-sync`, which prints how many records were delivered (0 on later runs:
nothing changed).

    python -m rostersync_pipelines.learning.demo       # ROSTERSYNC_CONFIG or rostersync.yaml
"""

from __future__ import annotations

import datetime as dt
import random
import sys

import sqlalchemy as sa

from rostersync_pipelines import cli
from rostersync_pipelines.config import load_config
from rostersync_pipelines.targets import embedded_schema as lms
from rostersync_pipelines.targets.embedded import EmbeddedLms

FIRST_DAY, DAYS = dt.date(2026, 1, 5), 5
SEED = 20260105
COURSES = [
    ("SAF-101", "Workplace Safety"),
    ("COC-100", "Code of Conduct"),
    ("GDPR-110", "Data Protection Basics"),
    ("FA-200", "First Aid Refresher"),
    ("LEAD-300", "Leadership Essentials"),
]
BADGES = [("Safety Champion", "achievement"), ("Quick Learner", "speed"), ("Five Courses", "milestone")]


def seed(url: str) -> int:
    """Learning records for the LMS's active learners, unless it has some already; returns how many."""
    target = EmbeddedLms(url)
    rng = random.Random(SEED)
    try:
        with target.engine.begin() as connection:
            if connection.execute(sa.select(sa.func.count()).select_from(lms.course_progress)).scalar():
                return 0
            learners = connection.execute(
                sa.select(lms.users.c.id).where(lms.users.c.status == "active", lms.users.c.role == "learner")
                .order_by(lms.users.c.id)
            ).scalars().all()  # fmt: skip
            progress, certificates, badges = [], [], []
            for user_id in learners:
                for course_id, course_name in rng.sample(COURSES, rng.randint(1, 3)):
                    day = FIRST_DAY + dt.timedelta(days=rng.randrange(DAYS))
                    at = dt.datetime.combine(day, dt.time(8 + rng.randrange(9), rng.randrange(60)))
                    done = rng.random() < 0.6
                    progress.append({
                        "user_id": user_id, "course_id": course_id, "course_name": course_name,
                        "status": "completed" if done else "in_progress",
                        "completion_percent": 100.0 if done else float(rng.randrange(5, 95, 5)),
                        "time_spent_seconds": rng.randrange(600, 7200, 60),
                        "enrolled_at": at - dt.timedelta(days=rng.randrange(1, 30)),
                        "completed_at": at if done else None,
                        "score": float(rng.randrange(60, 101)) if done else None, "updated_at": at,
                    })  # fmt: skip
                    if done:
                        certificates.append({
                            "user_id": user_id, "course_id": course_id, "course_name": course_name,
                            "issued_at": at, "expires_at": at + dt.timedelta(days=730),
                            "url": f"https://lms.northwind.example/certificates/{user_id}-{course_id}",
                            "updated_at": at,
                        })  # fmt: skip
                    if done and rng.random() < 0.25:
                        name, kind = rng.choice(BADGES)
                        badges.append(
                            {
                                "user_id": user_id,
                                "name": name,
                                "type": kind,
                                "issued_at": at,
                                "updated_at": at,
                            }
                        )
            for table, rows in (
                (lms.course_progress, progress),
                (lms.certificates, certificates),
                (lms.badges, badges),
            ):
                if rows:
                    connection.execute(table.insert(), rows)
            return len(progress) + len(certificates) + len(badges)
    finally:
        target.dispose()


def main() -> int:
    config = load_config()
    last = (FIRST_DAY + dt.timedelta(days=DAYS - 1)).isoformat()
    status = 0
    for name, sync in config.syncs.items():
        if sync.target.kind != "embedded":
            continue
        made = seed(config.resolve_url(sync.target.url))
        if made:
            print(f"demo: {made} sample learning records added to the LMS of sync {name}")
        status |= cli.main(["learning-sync", "--from", FIRST_DAY.isoformat(), "--to", last, "--sync", name])
    return status


if __name__ == "__main__":
    sys.exit(main())
