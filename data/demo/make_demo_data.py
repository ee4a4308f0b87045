"""Generate the RosterSync demo roster: ``users.csv`` and ``departments.xlsx`` in this folder.

Why this exists: the demo config must run end to end with no credentials and no HR system, so it reads
two local files that look like a real HR export of a fictional company (Northwind Learning Co., emails at
``northwind.example``). The generated files are committed, so ``make run`` needs no generation step; this
script is how they were made. Re-run it to regenerate them after changing it::

    .venv/bin/python data/demo/make_demo_data.py

It is deterministic (fixed seed, stdlib ``random``, no network, no clock): the same code writes
byte-identical files, so a re-run without changes leaves git clean. It prints the counts that
``README.md`` quotes; copy them there if they change.

The roster deliberately contains a few realistic flaws (one of each, at varied rows), described in
``README.md`` with what RosterSync should do about each:

(a) one exact duplicate row, (b) a blank DepartmentCode, (c) a DepartmentCode missing from
departments.xlsx, (d) an invalid work email, (e) a row with no Login and no email at all.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random
import re
import unicodedata
import zipfile
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
USERS_CSV = HERE / "users.csv"
DEPARTMENTS_XLSX = HERE / "departments.xlsx"

SEED = 20260101
N_PEOPLE = 300  # distinct people in users.csv; the duplicate row comes on top
COMPANY = "Northwind"
CONTRACTOR_COMPANY = "Contractor Partners Ltd"
WORK_DOMAIN = "northwind.example"
PERSONAL_DOMAIN = "mail.example"
FIXED_TIMESTAMP = dt.datetime(2026, 1, 1, 0, 0, 0)  # stamped into the xlsx so its bytes never change

N_CONTRACTORS = 12
N_INACTIVE = 9  # ~3 %
N_PAST_TERMINATION = 6  # ~2 %, Status still Active
N_FUTURE_TERMINATION = 3
N_PERSONAL_ONLY = 4  # no WorkEmail, PersonalEmail filled: the fallback column
N_EXTRA_PERSONAL = 14  # WorkEmail and PersonalEmail both filled
MANAGER_BLANK_SHARE = 0.10  # blank ManagerLogin = "inherit from department"
N_FUNCTIONAL_MANAGER = 15  # ~5 %
TEAM_BLANK_SHARE = 0.40

HEADER = [
    "EmployeeId",
    "Login",
    "WorkEmail",
    "PersonalEmail",
    "FirstName",
    "LastName",
    "DepartmentCode",
    "ManagerLogin",
    "FunctionalManagerLogin",
    "Status",
    "TerminationDate",
    "Team",
    "Title",
    "Company",
]

# (Code, Name, ParentCode); DepartmentId is assigned in this order from 1001.
DEPARTMENTS: list[tuple[str, str, str]] = [
    ("HQ", "Northwind Learning Co.", ""),
    ("ENG", "Engineering", "HQ"),
    ("SALES", "Sales", "HQ"),
    ("OPS", "Operations", "HQ"),
    ("HR", "Human Resources", "HQ"),
    ("FIN", "Finance", "HQ"),
    ("MKT", "Marketing", "HQ"),
    ("ENG-PLAT", "Platform Engineering", "ENG"),
    ("ENG-APPS", "Application Development", "ENG"),
    ("ENG-DATA", "Data & Analytics", "ENG"),
    ("ENG-QA", "Quality Assurance", "ENG"),
    ("SALES-EMEA", "Sales EMEA", "SALES"),
    ("SALES-AMER", "Sales Americas", "SALES"),
    ("SALES-APAC", "Sales Asia-Pacific", "SALES"),
    ("OPS-FAC", "Facilities", "OPS"),
    ("OPS-SUP", "Customer Support", "OPS"),
    ("OPS-LOG", "Logistics", "OPS"),
    ("HR-PEOPLE", "People Operations", "HR"),
    ("HR-TALENT", "Talent & Learning", "HR"),
    ("FIN-ACCT", "Accounting", "FIN"),
    ("FIN-FPA", "Financial Planning", "FIN"),
    ("MKT-BRAND", "Brand & Design", "MKT"),
    ("MKT-GROWTH", "Growth Marketing", "MKT"),
    ("MKT-CONTENT", "Content", "MKT"),
]
UNKNOWN_DEPARTMENT = "OPS-LEGACY"  # flaw (c): not in departments.xlsx

# Relative headcount of each team (divisions hold only their head; HQ holds only the CEO).
TEAM_WEIGHTS = {
    "ENG-PLAT": 8,
    "ENG-APPS": 12,
    "ENG-DATA": 7,
    "ENG-QA": 6,
    "SALES-EMEA": 9,
    "SALES-AMER": 9,
    "SALES-APAC": 6,
    "OPS-FAC": 5,
    "OPS-SUP": 11,
    "OPS-LOG": 7,
    "HR-PEOPLE": 4,
    "HR-TALENT": 4,
    "FIN-ACCT": 5,
    "FIN-FPA": 3,
    "MKT-BRAND": 3,
    "MKT-GROWTH": 4,
    "MKT-CONTENT": 3,
}
CONTRACTOR_TEAMS = ["ENG-PLAT", "ENG-APPS", "ENG-DATA", "ENG-QA", "OPS-SUP", "OPS-LOG", "MKT-CONTENT"]

TITLES = {
    "ENG": ["Software Engineer", "Senior Software Engineer", "Staff Engineer", "Engineering Manager"],
    "ENG-DATA": ["Data Analyst", "Data Engineer", "Senior Data Scientist", "Analytics Manager"],
    "ENG-QA": ["QA Engineer", "Senior QA Engineer", "Test Automation Engineer"],
    "SALES": ["Account Executive", "Sales Development Representative", "Account Manager", "Sales Engineer"],
    "OPS-FAC": ["Facilities Coordinator", "Facilities Technician", "Health & Safety Officer"],
    "OPS-SUP": ["Support Specialist", "Senior Support Specialist", "Support Team Lead"],
    "OPS-LOG": ["Logistics Coordinator", "Warehouse Operative", "Fleet Planner"],
    "HR": ["HR Business Partner", "People Operations Specialist", "Recruiter", "Learning Designer"],
    "FIN": ["Accountant", "Financial Analyst", "Payroll Specialist", "Accounts Payable Clerk"],
    "MKT": ["Marketing Specialist", "Graphic Designer", "Content Writer", "Growth Marketer"],
}
CONTRACTOR_TITLES = ["Contract Developer", "Contract QA Tester", "Contract Support Agent", "Contract Writer"]

TEAMS = [
    "Onboarding 2026",
    "Safety Champions",
    "Mentors",
    "First Aiders",
    "Leadership Track",
    "Green Team",
]

FIRST_NAMES = [
    "Aaron", "Abigail", "Adele", "Aisha", "Alan", "Alice", "Amara", "Amelia", "Andrei", "Anika",
    "Arjun", "Ava", "Beatriz", "Ben", "Bianca", "Brandon", "Caleb", "Camila", "Carlos", "Chloe",
    "Connor", "Dara", "David", "Diego", "Elena", "Eli", "Emma", "Erik", "Esther", "Fatima",
    "Felix", "Fiona", "Gabriel", "Grace", "Hana", "Harper", "Hugo", "Ines", "Isaac", "Ivy",
    "Jack", "Jade", "James", "Jane", "Javier", "John", "Jonas", "Julia", "Kai", "Kenji",
    "Laila", "Leo", "Liam", "Lina", "Lucas", "Maya", "Mei", "Miguel", "Mila", "Nadia",
    "Naomi", "Nathan", "Nina", "Noah", "Olivia", "Omar", "Oscar", "Priya", "Quinn", "Rafael",
    "Rosa", "Ruth", "Samir", "Sara", "Sofia", "Tariq", "Theo", "Uma", "Victor", "Wen",
    "Yara", "Yusuf", "Zane", "Zoe", "José", "Zoë", "Björn", "Chloé", "Renée", "Søren",
]  # fmt: skip
LAST_NAMES = [
    "Abbott", "Adeyemi", "Alvarez", "Andersen", "Baker", "Banerjee", "Bennett", "Brooks", "Castillo",
    "Chen", "Clarke", "Cohen", "Costa", "Dawson", "Diaz", "Doe", "Dubois", "Ellis", "Evans",
    "Fernandes", "Fischer", "Foster", "Garcia", "Gordon", "Gupta", "Hale", "Hansen", "Hayes", "Ito",
    "Jensen", "Johnson", "Kaur", "Keller", "Khan", "Kim", "Kowalski", "Larsen", "Lee", "Lindqvist",
    "Marsh", "Martins", "Meyer", "Mitchell", "Moreau", "Murphy", "Nakamura", "Novak", "Nguyen",
    "O'Brien", "Okafor", "Olsen", "Park", "Patel", "Pereira", "Quinn", "Ramos", "Reyes", "Rossi",
    "Sato", "Schmidt", "Shah", "Silva", "Singh", "Sousa", "Suzuki", "Tanaka", "Taylor", "Torres",
    "Turner", "Vargas", "Wagner", "Walsh", "Weber", "Wong", "Yilmaz", "Young", "Zhang", "Ziegler",
    "Müller", "Núñez", "Løvik", "Smith-Jones",
]  # fmt: skip

# The flawed people get fixed names so the README can name them; these names are kept out of the pool.
INVALID_EMAIL_NAME = ("Maria", "Lopez")
INVALID_EMAIL = "maria.lopez@northwind"  # flaw (d): no dot in the domain
BLANK_DEPARTMENT_NAME = ("Tomasz", "Wierzbicki")
UNKNOWN_DEPARTMENT_NAME = ("Greta", "Halvorsen")
NO_LOGIN_NAME = ("Pieter", "Van Dijk")
DUPLICATE_NAME = ("Helen", "Achterberg")
FLAWED_NAMES = [
    INVALID_EMAIL_NAME,
    BLANK_DEPARTMENT_NAME,
    UNKNOWN_DEPARTMENT_NAME,
    NO_LOGIN_NAME,
    DUPLICATE_NAME,
]
RESERVED_LOGINS = {"admin", "administrator", "root", "system"}  # LMS accounts, never employees


def ascii_slug(text: str) -> str:
    """'Núñez' -> 'nunez', "O'Brien" -> 'obrien', 'Smith-Jones' -> 'smithjones', 'Søren' -> 'soren'."""
    text = text.replace("ø", "o").replace("Ø", "O")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z]", "", folded.lower())


class Roster:
    """Builds people one by one, keeping logins, work emails and employee ids unique."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.people: list[dict[str, str]] = []
        self.logins: set[str] = set()
        self.emails: set[str] = set()
        self.names: set[str] = {self.slug(name) for name in FLAWED_NAMES}  # kept out of the random pool
        # Ids are sparse (leavers long gone left gaps) and all below 1000, so every id has leading zeros.
        self.ids = iter(rng.sample(range(2, 1000), N_PEOPLE + 10))

    @staticmethod
    def slug(name: tuple[str, str]) -> str:
        return f"{ascii_slug(name[0])}.{ascii_slug(name[1])}"

    def login_for(self, first: str, last: str) -> str:
        base = ascii_slug(first)[0] + ascii_slug(last)
        login, n = base, 1
        while login in self.logins or login in RESERVED_LOGINS:
            n += 1
            login = f"{base}{n}"
        return login

    def add(
        self,
        department: str,
        title: str,
        *,
        name: tuple[str, str] | None = None,
        employee_id: str | None = None,
        company: str = COMPANY,
    ) -> dict[str, str]:
        if name is None:
            while True:  # unique by ASCII spelling, so 'Zoe Kim' and 'Zoë Kim' cannot share an email
                name = (self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES))
                if self.slug(name) not in self.names:
                    break
        assert self.slug(name) not in self.names or name in FLAWED_NAMES, name
        self.names.add(self.slug(name))
        first, last = name
        login = self.login_for(first, last)
        email = f"{ascii_slug(first)}.{ascii_slug(last)}@{WORK_DOMAIN}"
        assert email not in self.emails, email
        self.logins.add(login)
        self.emails.add(email)
        person = dict.fromkeys(HEADER, "")
        person.update(
            EmployeeId=employee_id or f"E{next(self.ids):05d}",
            Login=login,
            WorkEmail=email,
            FirstName=first,
            LastName=last,
            DepartmentCode=department,
            Status="Active",
            Title=title,
            Company=company,
        )
        self.people.append(person)
        return person


def division_of(code: str) -> str:
    return code.split("-")[0]


def title_for(rng: random.Random, team: str) -> str:
    return rng.choice(TITLES.get(team) or TITLES[division_of(team)])


def random_date(rng: random.Random, year: int) -> str:
    start = dt.date(year, 1, 1)
    return (start + dt.timedelta(days=rng.randrange(365))).isoformat()


def build_users(rng: random.Random) -> tuple[list[dict[str, str]], dict[str, object]]:
    roster = Roster(rng)

    # Heads: CEO in the root, one head per division and per team. Each reports to the head of the parent.
    heads: dict[str, dict[str, str]] = {}
    for code, name, parent in DEPARTMENTS:
        if not parent:
            title = "Chief Executive Officer"
        elif parent == "HQ":
            title = f"VP {name}"
        else:
            title = f"Head of {name}"
        heads[code] = roster.add(code, title, employee_id="E00001" if not parent else None)
        heads[code]["ManagerLogin"] = heads[parent]["Login"] if parent else ""
    head_rows = {id(p) for p in heads.values()}

    # Contractors, then ordinary employees spread over the teams by weight.
    contractors = [
        roster.add(team, rng.choice(CONTRACTOR_TITLES), company=CONTRACTOR_COMPANY)
        for team in rng.choices(CONTRACTOR_TEAMS, k=N_CONTRACTORS)
    ]
    n_flawed_people = 5  # (a)..(e) below; the duplicate's original counts as one person
    n_staff = N_PEOPLE - len(roster.people) - n_flawed_people
    teams = list(TEAM_WEIGHTS)
    for team in rng.choices(teams, weights=[TEAM_WEIGHTS[t] for t in teams], k=n_staff):
        roster.add(team, title_for(rng, team))
    for person in roster.people:
        if id(person) not in head_rows:
            person["ManagerLogin"] = heads[person["DepartmentCode"]]["Login"]
    staff = [p for p in roster.people if id(p) not in head_rows and p["Company"] == COMPANY]

    # Disjoint special cases among ordinary staff (heads and contractors stay plain and valid).
    pool = rng.sample(staff, len(staff))
    take = iter(pool)
    inactive = [next(take) for _ in range(N_INACTIVE)]
    past_leavers = [next(take) for _ in range(N_PAST_TERMINATION)]
    future_leavers = [next(take) for _ in range(N_FUTURE_TERMINATION)]
    personal_only = [next(take) for _ in range(N_PERSONAL_ONLY)]
    for p in inactive:
        p["Status"] = "Inactive"
    for p in past_leavers:
        p["TerminationDate"] = random_date(rng, 2025)
    for p in future_leavers:
        p["TerminationDate"] = random_date(rng, 2027)
    for p in personal_only:
        p["PersonalEmail"] = p["WorkEmail"].replace(WORK_DOMAIN, PERSONAL_DOMAIN)
        p["WorkEmail"] = ""
    for p in rng.sample([p for p in staff if p["WorkEmail"]], N_EXTRA_PERSONAL):
        handle = f"{ascii_slug(p['FirstName'])}{ascii_slug(p['LastName'])}{rng.randrange(10, 99)}"
        p["PersonalEmail"] = f"{handle}@{PERSONAL_DOMAIN}"
    # Blank manager = inherit from the department. Never for the CEO (already blank) or heads.
    for p in rng.sample(staff, round(MANAGER_BLANK_SHARE * N_PEOPLE)):
        p["ManagerLogin"] = ""
    # Functional (dotted-line) managers: someone active in another department, never oneself.
    mentors = [p for p in roster.people if p["Status"] == "Active" and not p["TerminationDate"]]
    mentors = [p for p in mentors if p["Company"] == COMPANY and p["WorkEmail"]]
    for p in rng.sample(staff, N_FUNCTIONAL_MANAGER):
        candidates = [m for m in mentors if m["DepartmentCode"] != p["DepartmentCode"]]
        p["FunctionalManagerLogin"] = rng.choice(candidates)["Login"]
    for p in roster.people:
        if rng.random() >= TEAM_BLANK_SHARE:
            p["Team"] = rng.choice(TEAMS)

    # The flawed people: valid in every other column, each with exactly one problem.
    def flawed(name: tuple[str, str], department: str) -> dict[str, str]:
        p = roster.add(department, title_for(rng, department), name=name)
        p["ManagerLogin"] = heads[department]["Login"]
        return p

    duplicate = flawed(DUPLICATE_NAME, "FIN-ACCT")  # (a) will be listed twice
    blank_department = flawed(BLANK_DEPARTMENT_NAME, "OPS-LOG")  # (b)
    blank_department["DepartmentCode"] = ""
    unknown_department = flawed(UNKNOWN_DEPARTMENT_NAME, "OPS-FAC")  # (c)
    unknown_department["DepartmentCode"] = UNKNOWN_DEPARTMENT
    invalid_email = flawed(INVALID_EMAIL_NAME, "SALES-AMER")  # (d)
    invalid_email["WorkEmail"] = INVALID_EMAIL
    no_login = flawed(NO_LOGIN_NAME, "ENG-APPS")  # (e)
    no_login["Login"] = no_login["WorkEmail"] = no_login["PersonalEmail"] = ""
    flaws = [duplicate, blank_department, unknown_department, invalid_email, no_login]
    assert len(roster.people) == N_PEOPLE

    # Shuffle everyone except the flaws, then put each flaw (and the duplicate copy) at a spread-out row.
    rows = [p for p in roster.people if all(p is not f for f in flaws)]
    rng.shuffle(rows)
    # Positions ascend, so each insert lands at its final 0-based row (csv line = position + 2).
    placements = [
        (17, duplicate),
        (64, blank_department),
        (112, invalid_email),
        (158, dict(duplicate)),  # the exact second copy
        (203, no_login),
        (251, unknown_department),
    ]
    for position, person in placements:
        rows.insert(position, person)

    facts = {
        "heads": heads,
        "contractors": contractors,
        "inactive": inactive,
        "past_leavers": past_leavers,
        "future_leavers": future_leavers,
        "personal_only": personal_only,
        "flaws": {
            "duplicate": duplicate,
            "blank_department": blank_department,
            "unknown_department": unknown_department,
            "invalid_email": invalid_email,
            "no_login": no_login,
        },
    }
    return rows, facts


def write_users(rows: list[dict[str, str]]) -> None:
    with USERS_CSV.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def write_departments() -> None:
    wb = Workbook()
    notes = wb.active
    notes.title = "Notes"
    notes["A1"] = (
        "Northwind Learning Co. department tree, exported from the HR system. Data is on the Departments sheet."
    )
    ws = wb.create_sheet("Departments")
    ws.append(["DepartmentId", "Code", "Name", "ParentCode"])
    for department_id, (code, name, parent) in enumerate(DEPARTMENTS, start=1001):
        ws.append([department_id, code, name, parent or None])  # numeric id cells; empty parent for the root
    for column, width in zip("ABCD", [14, 14, 28, 12], strict=True):
        ws.column_dimensions[column].width = width
    wb.properties.creator = "RosterSync demo generator"
    wb.properties.created = FIXED_TIMESTAMP

    buffer = io.BytesIO()
    wb.save(buffer)
    DEPARTMENTS_XLSX.write_bytes(reproducible_zip(buffer.getvalue()))


def reproducible_zip(data: bytes) -> bytes:
    """Rewrite an xlsx with fixed zip timestamps and a fixed 'modified' date, so re-runs are byte-identical."""
    stamp = FIXED_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp.encode(), content)
            fixed = zipfile.ZipInfo(info.filename, date_time=FIXED_TIMESTAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, content)
    return out.getvalue()


def count(rows: list[dict[str, str]]) -> dict[str, int]:
    """The numbers README.md quotes, computed from the rows as written."""
    keys = [tuple(r[h] for h in HEADER) for r in rows]
    distinct = set(keys)
    known = {code for code, _, _ in DEPARTMENTS}
    email_ok = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    people = [dict(zip(HEADER, k, strict=True)) for k in dict.fromkeys(keys)]  # first copy of each row

    def n(predicate) -> int:
        return sum(1 for p in people if predicate(p))

    counts = {
        "data rows (excluding header)": len(rows),
        "distinct people (distinct rows)": len(distinct),
        "distinct EmployeeIds": len({r["EmployeeId"] for r in rows}),
        "departments in departments.xlsx": len(DEPARTMENTS),
        "(a) exact duplicate rows (extra copies)": len(rows) - len(distinct),
        "(b) blank DepartmentCode": n(lambda p: not p["DepartmentCode"]),
        "(c) DepartmentCode not in departments.xlsx": n(
            lambda p: p["DepartmentCode"] and p["DepartmentCode"] not in known
        ),
        "(d) invalid email": n(
            lambda p: any(p[c] and not email_ok.match(p[c]) for c in ("WorkEmail", "PersonalEmail"))
        ),
        "(e) no Login and no email": n(lambda p: not (p["Login"] or p["WorkEmail"] or p["PersonalEmail"])),
        "contractors (Company contains 'Contractor')": n(lambda p: "Contractor" in p["Company"]),
        "Status Inactive": n(lambda p: p["Status"] == "Inactive"),
        "Active with a past TerminationDate (2025)": n(
            lambda p: p["Status"] == "Active" and p["TerminationDate"][:4] == "2025"
        ),
        "Active with a future TerminationDate (2027)": n(lambda p: p["TerminationDate"][:4] == "2027"),
        "no WorkEmail, PersonalEmail only (fallback)": n(lambda p: not p["WorkEmail"] and p["PersonalEmail"]),
        "PersonalEmail filled (any)": n(lambda p: p["PersonalEmail"]),
        "blank ManagerLogin (incl. the CEO)": n(lambda p: not p["ManagerLogin"]),
        "FunctionalManagerLogin filled": n(lambda p: p["FunctionalManagerLogin"]),
        "blank Team": n(lambda p: not p["Team"]),
        "in the root department HQ": n(lambda p: p["DepartmentCode"] == "HQ"),
    }
    excluded = {
        id(p)
        for p in people
        if not p["DepartmentCode"]
        or p["DepartmentCode"] not in known
        or any(p[c] and not email_ok.match(p[c]) for c in ("WorkEmail", "PersonalEmail"))
        or not p["Login"]
        or "Contractor" in p["Company"]
        or p["Status"] != "Active"
        or (p["TerminationDate"] and p["TerminationDate"] < "2026-01-01")
    }
    counts["expected to be created in the LMS"] = len(people) - len(excluded)
    return counts


def main() -> None:
    rng = random.Random(SEED)
    rows, facts = build_users(rng)
    write_users(rows)
    write_departments()

    counts = count(rows)
    # Sanity checks the README relies on.
    logins = [r["Login"] for r in rows if r["Login"]]
    assert not RESERVED_LOGINS & set(logins)
    assert all(login == login.lower() for login in logins)
    assert counts["(a) exact duplicate rows (extra copies)"] == 1
    for key in ("(b)", "(c)", "(d)", "(e)"):
        assert next(v for k, v in counts.items() if k.startswith(key)) == 1, key
    every_login = set(logins)
    for r in rows:
        for column in ("ManagerLogin", "FunctionalManagerLogin"):
            assert not r[column] or r[column] in every_login, (column, r[column])

    print(f"wrote {USERS_CSV.name} and {DEPARTMENTS_XLSX.name} (seed {SEED})")
    for label, value in counts.items():
        print(f"  {label}: {value}")
    line_of = {}
    for i, r in enumerate(rows, start=2):  # line 1 is the header
        line_of.setdefault(r["EmployeeId"], []).append(i)
    print("flawed rows (csv line numbers, header = line 1):")
    for flaw, p in facts["flaws"].items():
        lines = ", ".join(map(str, line_of[p["EmployeeId"]]))
        print(
            f"  {flaw}: {p['EmployeeId']} login={p['Login'] or '(blank)'} {p['FirstName']} {p['LastName']} line {lines}"
        )
    print("contractors:", " ".join(p["Login"] for p in facts["contractors"]))
    print("inactive:", " ".join(p["Login"] for p in facts["inactive"]))
    print(
        "past termination:", " ".join(f"{p['Login']}({p['TerminationDate']})" for p in facts["past_leavers"])
    )
    print(
        "future termination:",
        " ".join(f"{p['Login']}({p['TerminationDate']})" for p in facts["future_leavers"]),
    )
    print(
        "personal email only:",
        " ".join(f"{p['Login']}<{p['PersonalEmail']}>" for p in facts["personal_only"]),
    )
    print("departments:", " ".join(code for code, _, _ in DEPARTMENTS))
    print("heads:", " ".join(f"{code}={p['Login']}" for code, p in facts["heads"].items()))


if __name__ == "__main__":
    main()
