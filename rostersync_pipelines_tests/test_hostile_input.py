"""Hostile or careless input is refused with its reason: configs that could hang or mislead, identities that
look different but mean one person, values no LMS should receive, cells that would run as formulas, files
that are not what they claim, and downloads that never end."""

from __future__ import annotations

import csv
import http.server
import io
import threading
import time
import zipfile

import openpyxl
import pytest
import yaml

from rostersync_pipelines.config import load_config
from rostersync_pipelines.errors import ConfigError, SourceError
from rostersync_pipelines.sources.files import read_file
from rostersync_pipelines_tests.roster import Roster, one_row, person
from rostersync_pipelines_tests.test_config import MINIMAL_SYNC, refusal, sync_with, write_config

# --- config -----------------------------------------------------------------------------------------------


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path):
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        lines.append(f"{level}: &{level} [{', '.join(['*' + previous] * 9)}]")
    lines.append(
        "syncs: {employees: {sources: {users: {kind: file, path: u.csv}}, fields: {users: {login: i}}}}"
    )
    file = tmp_path / "rostersync.yaml"
    file.write_text("\n".join(lines), encoding="utf-8")
    assert len(file.read_bytes()) < 600
    started = time.monotonic()
    message = refusal(file)
    assert time.monotonic() - started < 2
    assert "aliases expand to more than" in message and "line 2" in message


def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_text(
        "syncs:\n  employees:\n    sources: {users: {kind: file, path: u.csv}}\n"
        "    fields: {users: {login: Login}}\n    target: {kind: embedded}\n"
        "    policies:\n      missing_users: ignore\n      missing_users: deactivate\n",
        encoding="utf-8",
    )
    message = refusal(file)
    assert "line 8" in message and "'missing_users' is written twice" in message and "line 7" in message


@pytest.mark.parametrize(
    ("safety", "words"),
    [
        ({"max_deactivations": "150%"}, "more than 100%"),
        ({"max_deactivations": -5}, "negative"),
        ({"max_deactivations": True}, "not true/false"),
        ({"max_department_deletions": -1}, "negative"),
        ({"max_department_deletions": True}, "not a count"),
    ],
)
def test_safety_values_that_cannot_mean_anything_are_refused(tmp_path, safety, words):
    message = refusal(write_config(tmp_path, sync_with(safety=safety)))
    assert "syncs.employees.safety." in message and words in message


@pytest.mark.parametrize(
    ("destination", "words"),
    [
        ({"kind": "embedded", "url": "x"}, "learning.destination.url: unknown key"),
        ({"kind": "hubspot"}, "unknown learning destination kind 'hubspot'"),
        ({"kind": "salesforce"}, "learning.destination.instance_url: required key is missing"),
    ],
)
def test_learning_destinations_are_validated_per_kind(tmp_path, destination, words):
    message = refusal(write_config(tmp_path, sync_with(learning={"destination": destination})))
    assert words in message


def test_validate_opens_the_state_database_and_says_why_not_in_one_line(tmp_path, capsys):
    from rostersync_pipelines import cli

    (tmp_path / "users.csv").write_text("Login\nann\n", encoding="utf-8")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where a folder should be", encoding="utf-8")
    file = write_config(tmp_path, state={"url": f"sqlite:///{blocked}/state.db"})
    assert cli.main(["validate", "--config", str(file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "state.url: cannot open sqlite:///" in err[0], err
    file = write_config(tmp_path, sync_with(target={"kind": "embedded", "url": "nosuchdriver://x/y"}))
    assert cli.main(["validate", "--config", str(file)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "syncs.employees.target.url: cannot open nosuchdriver://x/y" in err[0], err
    file = write_config(tmp_path, MINIMAL_SYNC, state={"url": f"sqlite:///{tmp_path / 'state.db'}"})
    assert cli.main(["validate", "--config", str(file)]) == 0
    assert "state database sqlite:///" in capsys.readouterr().out


# --- identities and values --------------------------------------------------------------------------------


@pytest.fixture
def roster(tmp_path) -> Roster:
    return Roster(tmp_path)


def test_invisible_and_fullwidth_characters_do_not_make_a_second_person(roster):
    roster.write_users([person("anna"), person("user000008")])
    roster.sync()
    roster.write_users(
        [
            person("anna\u200b", Email="anna@corp.example", EmployeeId="E-anna"),
            person("ｕｓｅｒ000008", Email="user000008@corp.example", EmployeeId="E-user000008"),
        ]
    )
    outcome = roster.sync()
    # the same two people: matched, never a second account (the LMS keeps the spelling the source wrote)
    assert len(roster.users()) == 2
    assert outcome.summary["users"].get("create", 0) == 0
    assert set(roster.users()["user_unique_key"]) == {"E-anna", "E-user000008"}
    # two rows that differ only by an invisible character are one identity twice: both rejected
    roster.write_users([person("bob"), person("bob\u2060", EmployeeId="E-bob2", Email="bob2@corp.example")])
    plan = roster.plan().plan
    assert "bob" not in set(plan.loc[plan["action"] == "create", "key"])


def test_control_characters_and_oversize_values_make_the_row_a_reject(roster):
    roster.write_users(
        [
            person("nul", FirstName="Ann\x00ie"),
            person("longmail", Email="x" * 10_000 + "@corp.example"),
            person("bigname", FirstName="N" * 5_000_000),
            person("fine"),
        ]
    )
    outcome = roster.sync()
    assert set(roster.users()["login"]) == {"fine"}
    reasons = outcome.summary
    assert reasons["rejected_rows"] == 3
    from rostersync_pipelines import steps

    config = roster.config
    canonical = steps.canonicalize(steps.read_sources(config, "people"), config.syncs["people"])
    rejects = canonical.rejects.set_index("key")["reason"].to_dict()
    assert "first_name has a control character (NUL)" in rejects["nul"]
    assert "email is 10,013 characters long; at most 254" in rejects["longmail"]
    assert "first_name is 5,000,000 characters long; at most 255" in rejects["bigname"]


def test_plan_file_cells_cannot_run_as_formulas(roster):
    roster.write_users([person("eve", FirstName="=1+2", LastName="@SUM(1+1)", Title="-3+4"), person("ok")])
    outcome = roster.plan()
    plan_file = outcome.summary.get("plan_file") or next((roster.folder / "plans").glob("*.csv"))
    with open(plan_file, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    eve = next(row for row in rows if row["key"] == "eve" and row["entity"] == "users")
    assert '"=1+2"' in eve["values"] or "'=1+2" in eve["values"]  # inside JSON the cell starts with {
    cells = [cell for row in rows for cell in row.values()]
    assert not any(cell[:1] in ("=", "+", "-", "@", "\t", "\r") for cell in cells if cell)
    assert one_row(outcome.plan, "users", "eve")["values"]["first_name"] == "=1+2"  # the LMS gets the value


# --- files ------------------------------------------------------------------------------------------------


def test_a_duplicated_mapped_header_names_its_cells(tmp_path):
    file = tmp_path / "users.csv"
    file.write_text("Login,Email,E-mail,email\nann,a@x.org,,b@x.org\n", encoding="utf-8")
    from rostersync_pipelines.transform.mapping import find_column

    frame = read_file(str(file))
    with pytest.raises(SourceError, match=r"mapped column 'Email' is in the header 2 times \(columns B, D\)"):
        find_column(frame, "Email", "users")


def test_unclosed_quote_is_reported_on_the_row_a_person_sees(tmp_path):
    file = tmp_path / "users.csv"
    file.write_text('Login,Email\nann,a@x.org\nbob,"b@x.org\ncid,c@x.org\n', encoding="utf-8")
    with pytest.raises(SourceError, match=r"row 3 opens a quoted value that is never closed"):
        read_file(str(file))


def test_a_corrupt_workbook_is_one_line(tmp_path):
    good = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["Login"])
    book.active.append(["ann"])
    book.save(good)
    damaged = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good.getvalue())) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            target.writestr(item, data[: len(data) // 3] if item.filename.endswith("sheet1.xml") else data)
    file = tmp_path / "users.xlsx"
    file.write_bytes(damaged.getvalue())
    with pytest.raises(SourceError) as caught:
        read_file(str(file))
    assert str(file) in str(caught.value) and "\n" not in str(caught.value)


def test_a_missing_mapped_column_names_the_file(roster):
    roster.write_users([person("ann")])
    config = roster.config
    raw = yaml.safe_load(roster.config_file.read_text(encoding="utf-8"))
    raw["syncs"]["people"]["fields"]["users"]["first_name"] = "GivenName"
    roster.config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
    from rostersync_pipelines import steps

    table = steps.read_sources(load_config(roster.config_file), "people")["users"]
    assert table.error.startswith(str(roster.folder / "users.csv"))
    assert "mapped column 'GivenName' is missing" in table.error
    assert config is not None


class _Trickle(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


def test_a_trickling_server_fails_the_source_at_its_deadline_and_destructive_changes_wait(roster):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        roster.write_users([person("ann"), person("bob")])
        roster.sync()
        raw = yaml.safe_load(roster.config_file.read_text(encoding="utf-8"))
        url = f"http://127.0.0.1:{server.server_port}/users.csv"
        raw["syncs"]["people"]["sources"]["users"] = {"kind": "file", "path": url, "timeout": 2}
        roster.config_file.write_text(yaml.safe_dump(raw), encoding="utf-8")
        started = time.monotonic()
        outcome = roster.sync()
        assert time.monotonic() - started < 10
        assert "not finished within the source's timeout" in outcome.summary["source_errors"]["users"]
        assert set(roster.users().query("status == 'active'")["login"]) == {"ann", "bob"}
    finally:
        server.shutdown()


def test_a_config_error_has_no_traceback_even_for_io(tmp_path):
    file = tmp_path / "rostersync.yaml"
    file.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot be read as UTF-8 text"):
        load_config(file)
