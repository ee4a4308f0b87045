"""File sources: real exports from other tools, hand-built edge cases, and an HTTP server that checks auth.

The real-world files are read in place (never copied) because their quirks are the point: encodings, BOMs,
delimiters and quoting that this team did not choose.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import requests
from wsgiadapter import WSGIAdapter

from rostersync_pipelines.errors import SourceError
from rostersync_pipelines.sources.files import read_file

HR_COLUMNS = (
    "WorkerID,WorkerStatus,WorkerType,UserID,FirstName,LastName,FullName,GenderPronoun,ManagerID,HireDate,"
    "OnLeave,Department,Division,CostCenter,Company,Location,JobTitle,StreetAddress,City,CountryCode,"
    "OfficePhone,Custom01,Custom02,ZipCode"
).split(",")


def assert_text_frame(df: pd.DataFrame) -> None:
    """The promise every caller relies on: str-or-None object columns, int `__row__` last, RangeIndex."""
    assert isinstance(df.index, pd.RangeIndex) and df.index.start == 0
    assert df.columns[-1] == "__row__" and df["__row__"].dtype == "int64"
    for column in df.columns[:-1]:
        assert df[column].dtype == object, column
        assert all(value is None or type(value) is str for value in df[column]), column


# --- real-world files ---------------------------------------------------------------------------------------


def test_windows_1252_salesforce_export(realworld: Path) -> None:
    df = read_file(str(realworld / "salesforce/dataloader-samples/accountData.csv"))
    assert_text_frame(df)
    assert df.shape == (423, 38 + 1)
    assert "Crédito Inmobiliario Terras" in set(df["NAME"])
    assert "Pébéo of America" in set(df["NAME"])
    assert "00045844 c/ San Romualdo, 26 5º" in set(df["BILLINGSTREET"])
    assert df["ISDELETED"].iloc[0] == "false"  # quoted booleans stay text
    assert df["TYPE"].isna().sum() == 419  # quoted empty fields are missing, not ""
    assert df["__row__"].tolist() == list(range(2, 425))


def test_bom_utf8_and_utf16le_give_the_same_frame(realworld: Path) -> None:
    folder = realworld / "salesforce/dataloader-testfiles"
    utf8 = read_file(str(folder / "csvtext_BOM_UTF8.csv"))
    utf16 = read_file(str(folder / "csvtext_BOM_UTF16LE.csv"))
    assert list(utf8.columns) == ["column1", "column2", "column3", "__row__"]
    assert utf8.to_dict("records")[1] == {
        "column1": "row2-1",
        "column2": "row2-2",
        "column3": "row2-3",
        "__row__": 3,
    }
    pd.testing.assert_frame_equal(utf8, utf16)


def test_doubled_quotes(realworld: Path) -> None:
    df = read_file(str(realworld / "salesforce/dataloader-testfiles/csvEscapedQuotes.csv"))
    assert df["column1"].tolist() == ['"The Best" Account', 'The "Best" Account']
    assert df["column2"].tolist() == ["bla", "bla"]


@pytest.mark.parametrize("name", ["semicolon.csv", "tab.csv", "pipe.csv", "comma_wrapped_values.csv"])
def test_delimiters_are_detected(realworld: Path, name: str) -> None:
    df = read_file(name, base_dir=realworld / "salesforce/plugin-data-csv")  # relative path + base_dir
    assert_text_frame(df)
    assert list(df.columns) == ["NAME", "TYPE", "PHONE", "WEBSITE", "ANNUALREVENUE", "__row__"]
    assert len(df) == 10
    assert df["NAME"].tolist() == [f"account Upsert #{i}" for i in range(10)]
    assert df["ANNUALREVENUE"].tolist() == ["0"] + [f"{i}000" for i in range(1, 10)]
    assert df["WEBSITE"].iloc[9] == "http://www.accountUpsert9.com"


def test_leading_zeros_are_kept(realworld: Path) -> None:
    df = read_file(str(realworld / "salesforce/dataloader-testfiles/upsertFkAccountNewFormatCsvTemplate.csv"))
    assert df["ANNUALREVENUE"].tolist() == ["05000", "06000", "07000", "08000", "09000"]
    assert df["PARENT"].iloc[0] == "1-000000"


def test_hr_export_with_1000_records_and_no_final_newline(realworld: Path) -> None:
    df = read_file(str(realworld / "hr/entra-inbound-provisioning/csv-with-1000-records.csv"))
    assert_text_frame(df)
    assert list(df.columns) == [*HR_COLUMNS, "__row__"]
    assert len(df) == 1000
    assert df["WorkerID"].nunique() == 624
    assert df["StreetAddress"].isna().sum() == 173
    assert df["Custom02"].isna().sum() == 222
    assert df.iloc[-1][["ZipCode", "__row__"]].tolist() == ["65434", 1001]


def test_hr_export_with_every_field_quoted(realworld: Path) -> None:
    df = read_file(str(realworld / "hr/entra-inbound-provisioning/employeeData.csv"))
    assert list(df.columns) == [*HR_COLUMNS, "__row__"]
    assert len(df) == 332
    first = df.iloc[0]
    assert (first["WorkerID"], first["FullName"], first["Custom02"]) == ("1513", "Ginnie Fadiman", None)
    assert set(df["WorkerType"]) == {"Employee"}


def test_txt_extension_with_crlf(realworld: Path) -> None:
    df = read_file(str(realworld / "hr/entra-inbound-provisioning/csv-with-5-records.txt"))
    assert list(df.columns) == [*HR_COLUMNS, "__row__"]
    assert len(df) == 5
    assert df["ZipCode"].iloc[0] == "85434"  # no stray "\r"
    assert (df["ManagerID"] == "1222").sum() == 4


def test_trailing_empty_header_fields_are_dropped(realworld: Path) -> None:
    df = read_file(str(realworld / "oneroster/oneroster-net-csvsample/enrollments.csv"))
    assert list(df.columns) == [
        *"sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,role".split(","),
        "__row__",
    ]
    assert df["role"].tolist() == ["student"] * 3


def test_headers_with_spaces(realworld: Path) -> None:
    df = read_file(str(realworld / "oneroster/ms-sds-classic-100-users/Student.csv"))
    assert len(df) == 86
    assert df.columns[:2].tolist() == ["SIS ID", "School SIS ID"]
    assert df.iloc[0][["SIS ID", "Username", "Birthdate"]].tolist() == ["13001", "OKlein", "4/2/2000"]
    assert df["Secondary Email"].isna().all()


# --- CSV edge cases -----------------------------------------------------------------------------------------


def write(tmp_path: Path, name: str, content: str | bytes, encoding: str = "utf-8") -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return str(path)


def test_values_stay_as_typed(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", 'id,a,b,c,d\n0012,NA,null,N/A, padded \n0013,,"",TRUE,1e5\n')
    df = read_file(path)
    assert_text_frame(df)
    assert df.drop(columns="__row__").values.tolist() == [
        ["0012", "NA", "null", "N/A", " padded "],
        ["0013", None, None, "TRUE", "1e5"],
    ]


def test_windows_1252_written_by_python(tmp_path: Path) -> None:
    path = write(tmp_path, "p.csv", "name;city\nJosé Müller;Zürich\nÅsa “Q” Ørsted;€\n", encoding="cp1252")
    df = read_file(path)
    assert df["name"].tolist() == ["José Müller", "Åsa “Q” Ørsted"]
    assert df["city"].tolist() == ["Zürich", "€"]


def test_row_numbers_count_records_and_blank_rows(tmp_path: Path) -> None:
    content = '\nid,note\n1,"line one\nline two, with ""quotes"""\n\n2,plain\n,\n3,last'
    df = read_file(write(tmp_path, "p.csv", content))
    assert df["id"].tolist() == ["1", "2", "3"]
    assert df["note"].iloc[0] == 'line one\nline two, with "quotes"'
    # Header on spreadsheet row 2 (a blank row above), blank and all-empty rows still count but are dropped.
    assert df["__row__"].tolist() == [3, 5, 7]
    assert isinstance(df.index, pd.RangeIndex) and df.index.tolist() == [0, 1, 2]


def test_header_only_gives_an_empty_frame_with_columns(tmp_path: Path) -> None:
    df = read_file(write(tmp_path, "p.csv", "email;first name\r\n"))
    assert list(df.columns) == ["email", "first name", "__row__"]
    assert len(df) == 0


def test_header_names_are_trimmed_and_made_usable(tmp_path: Path) -> None:
    df = read_file(write(tmp_path, "p.csv", " id ,email,,email,\n1,a@x,extra,b@x,\n"))
    assert list(df.columns) == ["id", "email", "column_3", "email.1", "__row__"]
    assert df.iloc[0].tolist() == ["1", "a@x", "extra", "b@x", 2]


def test_large_csv_is_exact(tmp_path: Path) -> None:
    rows = "".join(
        f"{i:07d},First{i},Last {i},u{i}@example.com,{'' if i % 3 else 'Sales'}\n" for i in range(200_000)
    )
    path = write(tmp_path, "big.csv", "id,first,last,email,dept\n" + rows)
    df = read_file(path)
    assert len(df) == 200_000
    assert df.iloc[0].tolist() == ["0000000", "First0", "Last 0", "u0@example.com", "Sales", 2]
    assert df.iloc[-1].tolist() == [
        "0199999",
        "First199999",
        "Last 199999",
        "u199999@example.com",
        None,
        200_001,
    ]
    assert df["dept"].isna().sum() == 200_000 - 66_667


# --- XLSX ---------------------------------------------------------------------------------------------------


@pytest.fixture
def workbook(tmp_path: Path) -> str:
    book = openpyxl.Workbook()
    intro = book.active
    intro.title = "Read me"
    intro.append(["note"])
    intro.append(["exported by the HR system"])
    people = book.create_sheet("People")
    people.append([])  # Excel row 1 empty: the header is the first non-empty row
    people.append(["id", "fte", "grade", "start", "badge_at", "active", "shift", "comment", None])
    people.append(
        ["00123", 1.0, 42.0, dt.date(2024, 3, 1), dt.datetime(2024, 3, 1, 13, 45), True, dt.time(8, 30)]
    )
    people.append([None] * 8)  # row 4: blank, dropped
    people.append([7, 0.5, 3.5, dt.datetime(2024, 3, 1), None, False, None, "", "no header"])
    people.append([])
    people.append([])  # trailing blank rows
    people["A3"].number_format = "@"  # a text-formatted id, the way HR keeps leading zeros
    path = tmp_path / "roster.xlsx"
    book.save(path)
    return str(path)


def test_xlsx_cells_become_text(workbook: str) -> None:
    df = read_file(workbook, sheet="People")
    assert_text_frame(df)
    assert list(df.columns) == [
        "id",
        "fte",
        "grade",
        "start",
        "badge_at",
        "active",
        "shift",
        "comment",
        "column_9",
        "__row__",
    ]
    assert df.to_dict("records") == [
        {"id": "00123", "fte": "1", "grade": "42", "start": "2024-03-01", "badge_at": "2024-03-01T13:45:00",
         "active": "TRUE", "shift": "08:30:00", "comment": None, "column_9": None, "__row__": 3},
        {"id": "7", "fte": "0.5", "grade": "3.5", "start": "2024-03-01", "badge_at": None,
         "active": "FALSE", "shift": None, "comment": None, "column_9": "no header", "__row__": 5},
    ]  # fmt: skip


def test_xlsx_first_sheet_by_default(workbook: str) -> None:
    df = read_file(workbook)
    assert df.to_dict("records") == [{"note": "exported by the HR system", "__row__": 2}]


def test_xlsx_sheet_name_is_matched_loosely(workbook: str) -> None:
    assert read_file(workbook, sheet="  people ")["id"].tolist() == ["00123", "7"]


def test_xlsx_unknown_sheet_lists_the_sheets(workbook: str) -> None:
    with pytest.raises(SourceError) as raised:
        read_file(workbook, sheet="Staff")
    assert str(raised.value) == f"{workbook} has no sheet 'Staff'; sheets present: 'Read me', 'People'"


def test_xlsx_from_other_writers(tmp_path: Path) -> None:
    """Some exporters write whole numbers as floats (`42.0`, `1E3`) and a wrong `<dimension>`."""
    book = openpyxl.Workbook()
    book.active.append(["id", "salary", "bonus"])
    book.active.append(["A-1", 42, 1000])
    path = tmp_path / "export.xlsx"
    book.save(path)
    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    xml = parts["xl/worksheets/sheet1.xml"].decode()
    xml = re.sub(r'<dimension ref="[^"]*"', '<dimension ref="A1:A1"', xml)
    xml = xml.replace("<v>42</v>", "<v>42.0</v>").replace("<v>1000</v>", "<v>1E3</v>")
    parts["xl/worksheets/sheet1.xml"] = xml.encode()
    with zipfile.ZipFile(path, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    df = read_file(str(path))
    assert df.to_dict("records") == [{"id": "A-1", "salary": "42", "bonus": "1000", "__row__": 2}]


def test_xlsx_that_is_not_a_workbook(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a readable XLSX"):
        read_file(write(tmp_path, "fake.xlsx", "id,name\n1,a\n"))


# --- failures -----------------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as raised:
        read_file("exports/people.csv", base_dir=tmp_path)
    message = str(raised.value)
    assert "exports/people.csv" in message and "not found" in message
    assert str(tmp_path / "exports/people.csv") in message
    assert "\n" not in message


@pytest.mark.parametrize("content", [b"", b"\r\n\r\n", b",,\n,,\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = write(tmp_path, "empty.csv", content)
    with pytest.raises(SourceError, match=r"empty\.csv is empty"):
        read_file(path)


def test_unknown_file_type(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"people\.json: unknown file type '\.json'"):
        read_file(write(tmp_path, "people.json", '[{"id": 1}]'))


def test_record_with_more_fields_than_the_header(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot parse .*p\.csv: Expected 2 fields"):
        read_file(write(tmp_path, "p.csv", "a,b\n1,2\n3,4,5\n"))


def test_bytes_that_are_no_supported_encoding(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"is not utf-8 or cp1252 text \(byte 6"):
        read_file(write(tmp_path, "p.csv", b"a,b\n1,\x81\n"))


# --- HTTP ---------------------------------------------------------------------------------------------------

HOST = "https://hr.example.com"
USER, PASSWORD = "sync-bot", "s3cret-Pa55"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_bytes() -> bytes:
    book = openpyxl.Workbook()
    book.active.append(["employee_id", "email", "name"])
    book.active.append(["000481", "ana@example.com", "Ana Núñez"])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


class RecordingAdapter(WSGIAdapter):
    def __init__(self, app) -> None:
        super().__init__(app)
        self.timeouts: list[object] = []

    def send(self, request, *args, **kwargs):
        self.timeouts.append(kwargs.get("timeout"))
        return super().send(request, *args, **kwargs)


@pytest.fixture
def hr_server() -> tuple[requests.Session, RecordingAdapter]:
    files = {
        "/exports/people.csv": (
            "employee_id,email,name\n000481,ana@example.com,Ana Núñez\n".encode(),
            "text/csv; charset=utf-8",
        ),
        "/exports/people": (xlsx_bytes(), XLSX_TYPE),
        "/exports/people-blob": (xlsx_bytes(), "application/octet-stream"),
        "/exports/page": (b"<html>login</html>", "text/html"),
    }
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    def app(environ, start_response):
        if environ.get("HTTP_AUTHORIZATION") != expected:
            start_response(
                "401 Unauthorized", [("WWW-Authenticate", 'Basic realm="hr"'), ("Content-Type", "text/plain")]
            )
            return [b"login required"]
        if environ["PATH_INFO"] not in files:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such export"]
        body, content_type = files[environ["PATH_INFO"]]
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]

    session = requests.Session()
    adapter = RecordingAdapter(app)
    session.mount(HOST, adapter)
    return session, adapter


@pytest.mark.parametrize("path", ["/exports/people.csv", "/exports/people", "/exports/people-blob"])
def test_url_with_credentials(hr_server, path: str) -> None:
    session, adapter = hr_server
    df = read_file(HOST + path, username=USER, password=PASSWORD, session=session)
    assert_text_frame(df)
    assert df.to_dict("records") == [
        {"employee_id": "000481", "email": "ana@example.com", "name": "Ana Núñez", "__row__": 2}
    ]
    assert adapter.timeouts == [(10, 30)]  # connect 10 s, each read 30 s (and a total deadline besides)


@pytest.mark.parametrize("password", [None, "wrong-password-42"])
def test_url_refused_without_leaking_the_password(hr_server, password: str | None) -> None:
    session, _ = hr_server
    url = f"{HOST}/exports/people.csv?token=abc123"
    with pytest.raises(SourceError) as raised:
        read_file(url, username=USER, password=password, session=session)
    message = str(raised.value)
    assert message.startswith(f"cannot download {HOST}/exports/people.csv")
    assert "HTTP 401 Unauthorized" in message
    assert "abc123" not in message
    assert password is None or password not in message


def test_url_not_found(hr_server) -> None:
    session, _ = hr_server
    with pytest.raises(SourceError, match=r"hr\.example\.com/exports/gone\.csv: HTTP 404 Not Found$"):
        read_file(f"{HOST}/exports/gone.csv", username=USER, password=PASSWORD, session=session)


def test_url_that_answers_a_web_page(hr_server) -> None:
    session, _ = hr_server
    with pytest.raises(SourceError, match=r"the server sent a web page, not a CSV file \(a login page\?\)"):
        read_file(f"{HOST}/exports/page", username=USER, password=PASSWORD, session=session)


def test_url_connection_error(hr_server) -> None:
    class Unreachable(requests.adapters.BaseAdapter):
        def send(self, request, *args, **kwargs):
            raise requests.ConnectionError(f"connection refused for {request.url}")

        def close(self) -> None:
            pass

    session, _ = hr_server
    session.mount("https://down.example.com", Unreachable())
    with pytest.raises(
        SourceError, match=r"^cannot download https://down\.example\.com/people\.csv: ConnectionError$"
    ):
        read_file("https://down.example.com/people.csv", session=session)
