"""Google Sheets source: gspread + google-auth against the in-process Google fake, and through `rostersync sync`.

The fake verifies the service account's signed JWT and answers Sheets calls as the API does (trailing blanks
trimmed, FORMATTED_VALUE text, error bodies with the code inside), so what passes here is what gspread and
google-auth really send.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
import yaml

from rostersync_pipelines import cli, http
from rostersync_pipelines.config import load_config
from rostersync_pipelines.sources import SourceContext, read_source, source_module
from rostersync_pipelines.sources import google_sheets as sheets
from rostersync_pipelines.targets.embedded import EmbeddedLms
from rostersync_pipelines_tests.fakes.google_sheets import TOKEN_URI, GoogleFake

KEY = "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms"
URL = f"https://docs.google.com/spreadsheets/d/{KEY}/edit#gid=0"
EMAIL = "rostersync@acme-hr.iam.gserviceaccount.com"
HEADER = ["EmployeeId", "Login", "Email", "FirstName", "LastName", "Department", "StartDate"]
PEOPLE = [
    [("00042", 42), "ada", "ada@acme.example", "Ada", "Lovelace", "ENG", ("03/01/2026", 46082)],
    [("00043", 43), "alan", "alan@acme.example", "Alan", "Turing", "ENG"],  # ragged: no start date
    [],  # a blank line between people
    [("00044", 44), "grace", "grace@acme.example", "Grace", "Hopper", "OPS", ("1/15/2024", 45306)],
]


@pytest.fixture
def google():
    fake = GoogleFake()
    with http.extra_transports(fake.transports()):
        yield fake


@pytest.fixture
def no_waits(monkeypatch):
    """Retries happen for real; only their sleeps are skipped (and recorded)."""
    waits: list[float] = []

    def backoff(attempt, base=0.5, cap=30.0):
        waits.append(min(cap, base * 2**attempt))
        return 0.0

    monkeypatch.setattr(http, "backoff", backoff)
    return waits


def write_config(folder: Path, source: dict, **sync) -> Path:
    config = {
        "state": {"url": f"sqlite:///{folder / 'state.db'}"},
        "syncs": {
            "employees": {
                "sources": {"users": {"kind": "google_sheets", **source}},
                "fields": {
                    "users": {
                        "user_unique_key": "EmployeeId",
                        "login": "Login",
                        "email": "Email",
                        "first_name": "FirstName",
                        "last_name": "LastName",
                        "department": "Department",
                        "custom": {"start_date": "StartDate"},
                    }
                },
                "policies": {"unknown_departments": "create"},
                "target": {"kind": "embedded", "url": f"sqlite:///{folder / 'lms.db'}"},
                **sync,
            }
        },
    }
    path = folder / "rostersync.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def read_users(folder: Path, **source):
    config = load_config(write_config(folder, {"spreadsheet": URL, **source}))
    return read_source("users", config.syncs["employees"], config, sync_name="employees")


def shared_roster(google: GoogleFake, rows=None, **sheets_and_grid) -> dict:
    info = google.service_account(EMAIL)
    tabs = sheets_and_grid.pop("tabs", None) or {"Users": [HEADER, *(PEOPLE if rows is None else rows)]}
    google.add_spreadsheet(KEY, tabs, readers=[EMAIL], **sheets_and_grid)
    return info


def assert_no_secret(text: str, info: dict) -> None:
    key_body = info["private_key"].splitlines()[5]
    assert key_body not in text and info["private_key_id"] not in text
    assert "ya29." not in text


# --- reading ------------------------------------------------------------------------------------------------


def test_cells_are_read_as_shown_with_the_sheet_row_numbers(google, tmp_path):
    info = shared_roster(google)
    table = read_users(tmp_path, worksheet="Users", credentials=json.dumps(info))
    assert table.error is None
    frame = table.frame
    assert list(frame.columns) == [*HEADER, "__row__"]
    assert frame["EmployeeId"].tolist() == ["00042", "00043", "00044"], "leading zeros, never numericised"
    assert frame["StartDate"].tolist() == ["03/01/2026", None, "1/15/2024"], "dates as shown; ragged = None"
    assert frame["__row__"].tolist() == [2, 3, 5], "the blank line 4 is skipped, rows keep their numbers"
    values = [call for call in google.calls() if "/values/" in call[1]]
    assert [query["valueRenderOption"] for _, _, query in values] == [["FORMATTED_VALUE"]]


def test_a_large_ragged_sheet_is_read_in_blocks_of_rows(google, tmp_path, monkeypatch):
    monkeypatch.setattr(sheets, "ROWS_PER_REQUEST", 1000)
    rows = [[f"{n:06d}", f"user{n}", f"user{n}@acme.example"][: 1 + n % 3] for n in range(2, 2601)]
    rows[997 - 2 : 1000 - 1] = [[], [], [], []]  # rows 997-1000 blank: the first block ends short
    info = shared_roster(google, rows, tabs={"Users": [HEADER, *rows]})
    table = read_users(tmp_path, credentials=json.dumps(info))
    assert table.error is None
    frame = table.frame

    blocks = [path.rsplit("!", 1)[1] for _, path, _ in google.calls() if "/values/" in path]
    assert blocks == ["1:1000", "1001:2000", "2001:2600"], "three bounded requests, none past the grid"
    assert len(frame) == 2599 - 4
    by_row = frame.set_index("__row__")
    assert by_row.loc[1001, HEADER[:3]].tolist() == ["001001", "user1001", "user1001@acme.example"], (
        "rows stay aligned"
    )
    assert by_row.loc[1002, HEADER[:3]].tolist() == ["001002", None, None], (
        "a row cut short is padded with None"
    )
    assert by_row.loc[2599, HEADER[:3]].tolist() == ["002599", "user2599", None]
    assert 1000 not in by_row.index
    assert by_row[HEADER[3:]].isna().all().all(), "columns beyond a row's last cell are None"


def test_a_whole_block_of_blank_rows_keeps_later_rows_on_their_numbers(google, tmp_path, monkeypatch):
    monkeypatch.setattr(sheets, "ROWS_PER_REQUEST", 10)
    rows = [[f"{n:03d}", f"user{n}"] for n in range(2, 6)] + [[]] * 20 + [["026", "late"]]
    info = shared_roster(google, tabs={"Users": [["EmployeeId", "Login"], *rows]}, row_count=30)
    config = load_config(write_config(tmp_path, {"spreadsheet": URL, "credentials": json.dumps(info)}))
    context = SourceContext("users", "employees", config.syncs["employees"], config)
    frame = sheets.read(config.syncs["employees"].sources["users"], context)
    assert frame["__row__"].tolist() == [2, 3, 4, 5, 26]
    assert frame["Login"].tolist() == ["user2", "user3", "user4", "user5", "late"]
    assert len([path for _, path, _ in google.calls() if "/values/" in path]) == 3


def test_first_worksheet_is_the_default_and_a_missing_one_lists_the_others(google, tmp_path):
    info = shared_roster(google, tabs={"Staff": [HEADER, *PEOPLE], "Users": [["Login"], ["nobody"]]})
    assert read_users(tmp_path, credentials=json.dumps(info)).frame["Login"].tolist() == [
        "ada",
        "alan",
        "grace",
    ]
    error = read_users(tmp_path, worksheet="Employees", credentials=json.dumps(info)).error
    assert error == f"Google Sheet {KEY} has no worksheet 'Employees'; worksheets present: 'Staff', 'Users'"


def test_a_bare_key_is_accepted_and_a_foreign_url_refused(google, tmp_path):
    info = shared_roster(google)
    assert read_users(tmp_path, spreadsheet=KEY, credentials=json.dumps(info)).rows == 3
    error = read_users(tmp_path, spreadsheet="https://example.com/roster", credentials=json.dumps(info)).error
    assert "is not a Google Sheets URL" in error and "/spreadsheets/d/KEY/edit" in error


# --- malformed sheets ---------------------------------------------------------------------------------------


def test_a_blank_header_above_values_names_its_cell(google, tmp_path):
    rows = [["00042", "ada", "x", "", "ada@acme.example"]]
    info = shared_roster(google, tabs={"Users": [["EmployeeId", "Login", "", "", "Email"], *rows]})
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert error == (
        f"Google Sheet {KEY} worksheet 'Users': blank header at C1 above values; type a column name in row 1"
    ), "D1 is blank too, but nothing is below it: a spacer column"


def test_a_value_right_of_the_last_header_is_a_blank_header(google, tmp_path):
    info = shared_roster(google, tabs={"Users": [["Login", "Email"], ["ada", "ada@x", "stray"]]})
    assert "blank header at C1" in read_users(tmp_path, credentials=json.dumps(info)).error


def test_repeated_headers_name_every_cell(google, tmp_path):
    header = ["EmployeeId", "Email", "Login", "Login ", "email"]
    info = shared_roster(google, tabs={"Users": [header, ["1", "a@x", "a", "b", "c@x"]]})
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert error == (
        f"Google Sheet {KEY} worksheet 'Users': repeated header 'Email' at B1 and E1; 'Login' at C1 and D1; "
        "give each column its own name in row 1"
    )


def test_an_empty_worksheet(google, tmp_path):
    info = shared_roster(google, tabs={"Users": []})
    assert (
        read_users(tmp_path, credentials=json.dumps(info)).error
        == f"Google Sheet {KEY} worksheet 'Users' is empty"
    )


# --- access and auth ----------------------------------------------------------------------------------------


def test_the_token_is_a_jwt_grant_signed_by_the_service_account(google, tmp_path):
    info = shared_roster(google)
    assert read_users(tmp_path, credentials=json.dumps(info)).error is None
    (token_call,) = [call for call in google.requests if call[0] == "oauth2.googleapis.com"]
    assert token_call[1:3] == ("POST", "/token")
    issued = next(iter(google.tokens.values()))
    assert issued == (EMAIL, {"https://www.googleapis.com/auth/spreadsheets.readonly"})


def test_a_sheet_not_shared_with_the_service_account(google, tmp_path):
    info = shared_roster(google)
    google.spreadsheets[KEY].readers.clear()
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert (
        error
        == f"Google Sheet {KEY}: the service account cannot open it; share the spreadsheet with {EMAIL} (Viewer)"
    )
    assert_no_secret(error, info)


def test_a_missing_spreadsheet(google, tmp_path):
    info = shared_roster(google)
    del google.spreadsheets[KEY]
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert error == f"Google Sheet {KEY}: no such spreadsheet; check the URL or key in `spreadsheet:`"


def test_a_deleted_key_or_account_is_refused_by_the_token_endpoint(google, tmp_path):
    info = shared_roster(google)
    google.revoke_key(EMAIL)
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert (
        error
        == f"Google Sheet {KEY}: Google refused the key of {EMAIL} (deleted or replaced); create a new JSON key for it"
    )
    assert_no_secret(error, info)
    del google.accounts[EMAIL]
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert "does not know the service account" in error
    assert not [call for call in google.requests if call[0] == "sheets.googleapis.com"]


def test_a_forged_assertion_is_refused_by_the_fake(google):
    """The fake's own check: a JWT not signed by the registered key gets no token."""
    from rostersync_pipelines_tests.fakes.google_sheets import private_key

    google.service_account(EMAIL, key=0)
    forged = jwt.encode(
        {"iss": EMAIL, "aud": TOKEN_URI, "scope": "x", "iat": int(time.time()), "exp": int(time.time()) + 60},
        private_key(1),
        algorithm="RS256",
        headers={"kid": google.accounts[EMAIL][0]},
    )
    session = http.new_session()
    answer = session.post(
        TOKEN_URI, data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": forged}
    )
    assert answer.status_code == 400 and answer.json()["error_description"] == "Invalid JWT Signature."
    api = session.get(
        f"https://sheets.googleapis.com/v4/spreadsheets/{KEY}", headers={"Authorization": "Bearer x"}
    )
    assert api.status_code == 401 and api.json()["error"]["status"] == "UNAUTHENTICATED"


def test_credentials_as_a_relative_path_and_their_problems(google, tmp_path):
    info = shared_roster(google)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "sa.json").write_text(json.dumps(info), encoding="utf-8")
    assert read_users(tmp_path, credentials="keys/sa.json").rows == 3, "read from beside the config"

    missing = read_users(tmp_path, credentials="keys/none.json").error
    assert missing.startswith(f"Google Sheets credentials: cannot read {tmp_path / 'keys' / 'none.json'}")
    broken = json.dumps(info)[:-40]
    error = read_users(tmp_path, credentials=broken).error
    assert error.startswith("Google Sheets credentials are not valid JSON")
    assert_no_secret(error, info)
    user_token = json.dumps({"type": "authorized_user", "refresh_token": "1//secret"})
    error = read_users(tmp_path, credentials=user_token).error
    assert "not a service-account key (type 'authorized_user')" in error and "1//secret" not in error


# --- throttling ---------------------------------------------------------------------------------------------


def test_throttling_and_outages_are_retried_with_backoff(google, tmp_path, no_waits):
    info = shared_roster(google)
    google.fail_next(429, 429, 503)
    table = read_users(tmp_path, credentials=json.dumps(info))
    assert table.error is None and table.rows == 3
    assert len(google.calls()) == 3 + 3, "metadata twice and values once, after three refused tries"
    assert no_waits == [0.5, 1.0, 2.0], "exponential backoff between the tries"


def test_throttling_that_never_ends_is_one_line(google, tmp_path, no_waits):
    info = shared_roster(google)
    google.fail_next(*[429] * 20)
    error = read_users(tmp_path, credentials=json.dumps(info)).error
    assert error == (
        f"Google Sheet {KEY}: Google kept answering 429 (read quota exceeded) after retries; "
        "sync less often or try later"
    )
    assert len(google.calls()) == 5, "one try and four retries"


def test_the_regional_boundary_lookup_also_reaches_the_fake(google, tmp_path, monkeypatch):
    """google-auth 2.63 looks up allowedLocations only when opted in; then it too rides our transports."""
    monkeypatch.setenv("GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED", "true")
    info = shared_roster(google)
    assert read_users(tmp_path, credentials=json.dumps(info)).error is None
    for _ in range(100):  # the lookup runs on a background thread
        if google.calls("iamcredentials.googleapis.com"):
            break
        time.sleep(0.02)
    assert google.calls("iamcredentials.googleapis.com") == [
        ("GET", f"/v1/projects/-/serviceAccounts/{EMAIL}/allowedLocations", {})
    ]


# --- changes sensor -----------------------------------------------------------------------------------------


def test_changed_is_a_hash_of_the_values(google, tmp_path):
    info = shared_roster(google)
    config = load_config(write_config(tmp_path, {"spreadsheet": URL, "credentials": json.dumps(info)}))
    sync = config.syncs["employees"]
    context = SourceContext("users", "employees", sync, config, deadline=time.monotonic() + 30)
    module = source_module("google_sheets")

    first = module.changed(sync.sources["users"], context, None)
    assert first.changed and len(first.cursor) == 64
    again = module.changed(sync.sources["users"], context, first.cursor)
    assert (again.changed, again.cursor) == (False, first.cursor)
    assert again.reason == f"Google Sheet {KEY} worksheet 'Users': values unchanged"
    google.spreadsheets[KEY].sheets[0].rows[1][3] = "Augusta Ada"
    edited = module.changed(sync.sources["users"], context, first.cursor)
    assert edited.changed and edited.cursor != first.cursor


# --- end to end ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("given_as", ["env_json", "path"])
def test_rostersync_sync_from_a_google_sheet(google, tmp_path, monkeypatch, capsys, given_as):
    info = shared_roster(google)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    if given_as == "env_json":
        monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT", json.dumps(info, indent=2))
        credentials = "${GOOGLE_SERVICE_ACCOUNT}"
    else:
        (tmp_path / "service-account.json").write_text(json.dumps(info), encoding="utf-8")
        credentials = "service-account.json"
    source = {"spreadsheet": f"https://docs.google.com/spreadsheets/d/{KEY}/edit", "worksheet": "Users"}
    config = write_config(tmp_path, {**source, "credentials": credentials})

    assert cli.main(["--config", str(config), "sync", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["users"] == {"create": 3}
    lms = EmbeddedLms(f"sqlite:///{tmp_path / 'lms.db'}")
    try:
        users = lms.read_state().users.set_index("login")
    finally:
        lms.dispose()
    assert users.loc[["ada", "alan", "grace"], "user_unique_key"].tolist() == ["00042", "00043", "00044"]
    assert users.at["ada", "custom_fields"]["start_date"] == "03/01/2026"
    assert users.at["grace", "email"] == "grace@acme.example"
    state_db = (tmp_path / "state.db").read_bytes()
    assert info["private_key_id"].encode() not in state_db and b"PRIVATE KEY" not in state_db


def test_rostersync_sync_of_an_unshared_sheet_fails_in_one_line(google, tmp_path, monkeypatch, capsys):
    info = shared_roster(google)
    google.spreadsheets[KEY].readers.clear()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("GOOGLE_SERVICE_ACCOUNT", json.dumps(info))
    config = write_config(tmp_path, {"spreadsheet": URL, "credentials": "${GOOGLE_SERVICE_ACCOUNT}"})

    assert cli.main(["--config", str(config), "sync"]) == 1
    captured = capsys.readouterr()
    (line,) = captured.err.strip().splitlines()
    assert line == (
        f"rostersync: sync employees: source users: Google Sheet {KEY}: the service account cannot open it; "
        f"share the spreadsheet with {EMAIL} (Viewer)"
    )
    assert_no_secret(captured.out + captured.err, info)
