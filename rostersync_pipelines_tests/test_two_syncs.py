"""Two syncs into one LMS (DESIGN §1.1): Salesforce Users and Contacts into one TalentLMS, here two HR files
into one embedded LMS. With `missing_users_scope: linked` neither deactivates the other's people; the
partners sync has no departments source and creates the departments it names (`unknown_departments`).

Every run is the real CLI in-process (`cli.main`), with its own DAGSTER_HOME and sqlite files in tmp_path.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from rostersync_pipelines import cli
from rostersync_pipelines.targets.embedded import EmbeddedLms

HEADER = "PersonId,Login,Email,FirstName,Company\n"
EMPLOYEES = {
    "ann": "E1,ann,ann@corp.example,Ann,Northwind\n",
    "bob": "E2,bob,bob@corp.example,Bob,Northwind\n",
}
PARTNERS = {
    "pat": "P1,pat,pat@partner.example,Pat,Fabrikam\n",
    "quinn": "P2,quinn,quinn@partner.example,Quinn,Contoso Ltd\n",
}


class TwoSyncs:
    def __init__(self, folder: Path, partners_scope: str = "linked"):
        self.folder = folder
        self.lms_url = f"sqlite:///{folder / 'lms.db'}"
        fields = {
            "user_unique_key": "PersonId",
            "login": "Login",
            "email": "Email",
            "first_name": "FirstName",
        }
        sync = {
            "fields": {"users": fields},
            "policies": {"missing_users_scope": "linked"},
            "safety": {"max_deactivations": 10},
            "target": {"kind": "embedded", "url": self.lms_url},
        }
        self.raw = {
            "state": {"url": f"sqlite:///{folder / 'state.db'}", "plans_dir": str(folder / "plans")},
            "syncs": {
                "employees": {**sync, "sources": {"users": {"kind": "file", "path": "employees.csv"}}},
                "partners": {
                    **sync,
                    "sources": {"users": {"kind": "file", "path": "partners.csv"}},
                    "fields": {"users": {**fields, "department": "Company"}},
                    "policies": {"missing_users_scope": partners_scope, "unknown_departments": "create"},
                },
            },
        }
        self.config = folder / "rostersync.yaml"
        self.config.write_text(yaml.safe_dump(self.raw, sort_keys=False), encoding="utf-8")

    def write(self, name: str, people: dict[str, str]) -> None:
        (self.folder / f"{name}.csv").write_text(HEADER + "".join(people.values()), encoding="utf-8")

    def cli(self, capsys, *args: str) -> dict:
        code = cli.main(["--config", str(self.config), *args, "--json"])
        out = capsys.readouterr()
        assert code == 0, out.err
        assert "Traceback" not in out.err
        return json.loads(out.out)

    def lms(self) -> dict[str, str]:
        """login -> status of every LMS account."""
        lms = EmbeddedLms(self.lms_url)
        try:
            users = lms.read_state().users
            return dict(zip(users["login"], users["status"], strict=True))
        finally:
            lms.dispose()

    def departments(self) -> dict[str, str]:
        """LMS department code -> name."""
        lms = EmbeddedLms(self.lms_url)
        try:
            departments = lms.read_state().departments
            return dict(zip(departments["code"], departments["name"], strict=True))
        finally:
            lms.dispose()


@pytest.fixture
def two(tmp_path, monkeypatch) -> TwoSyncs:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    syncs = TwoSyncs(tmp_path)
    syncs.write("employees", EMPLOYEES)
    syncs.write("partners", PARTNERS)
    return syncs


def test_two_syncs_never_deactivate_each_others_people(two, capsys):
    first = two.cli(capsys, "sync")
    assert first["employees"]["users"] == {"create": 2}
    assert first["partners"]["users"] == {"create": 2}
    assert first["partners"]["departments"] == {"create": 2}
    assert two.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "active"}
    assert two.departments() == {"Fabrikam": "Fabrikam", "Contoso Ltd": "Contoso Ltd"}

    again = two.cli(capsys, "sync")
    for name in ("employees", "partners"):
        assert again[name]["users"] == {} and again[name]["departments"] == {}, again[name]
        assert again[name]["held"] == {}

    two.write("employees", {"ann": EMPLOYEES["ann"]})  # bob left the company
    left = two.cli(capsys, "sync")
    assert left["employees"]["users"] == {"deactivate": 1}
    assert left["partners"]["users"] == {}
    assert two.lms() == {"ann": "active", "bob": "inactive", "pat": "active", "quinn": "active"}


def test_scope_all_would_deactivate_the_other_syncs_people(two, capsys):
    """The contrast: the same partners sync with `missing_users_scope: all` plans to deactivate ann and bob."""
    two.cli(capsys, "sync")
    two.raw["syncs"]["partners"]["policies"]["missing_users_scope"] = "all"
    two.config.write_text(yaml.safe_dump(two.raw, sort_keys=False), encoding="utf-8")
    planned = two.cli(capsys, "plan", "--sync", "partners")
    assert planned["users"] == {"deactivate": 2}
    plan = pd.read_csv(planned["plan_file"], dtype=str, keep_default_na=False)
    assert set(plan.loc[plan["action"] == "deactivate", "key"]) == {"ann", "bob"}
    assert two.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "active"}


def test_a_rule_that_puts_a_person_out_of_scope_deactivates_only_this_syncs_account(two, capsys):
    two.cli(capsys, "sync")
    two.raw["syncs"]["partners"]["rules"] = [{"keep": {"field": "Company", "not_contains": "contoso"}}]
    two.config.write_text(yaml.safe_dump(two.raw, sort_keys=False), encoding="utf-8")
    result = two.cli(capsys, "sync")
    assert result["partners"]["users"] == {"deactivate": 1}
    assert result["partners"]["skipped_rows"] == 1
    assert two.lms() == {"ann": "active", "bob": "active", "pat": "active", "quinn": "inactive"}
