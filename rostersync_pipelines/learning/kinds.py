"""The three kinds of learning record: their LMS columns, their Salesforce object and its fields.

One table of names, so the reader, the destinations, the DX metadata and the fake agree on spelling. The
delivered columns are snake_case (the embedded destination's columns); `SALESFORCE` renames them to the
custom fields of DESIGN §1.4.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    name: str  # the LMS table: course_progress | certificates | badges
    sobject: str  # the Salesforce custom object
    key: tuple[str, ...]  # the LMS columns that identify one record
    tag: str  # the record kind in its External ID
    fields: dict[str, str]  # delivered column -> Salesforce field, beyond the common ones
    numbers: tuple[str, ...] = ()
    times: tuple[str, ...] = ()


COMMON = {
    "external_id": "External_Id__c",
    "salesforce_user_id": "User__c",
    "salesforce_contact_id": "Contact__c",
    "lms_user_id": "LMS_User_Id__c",
}
KINDS = {
    "course_progress": Kind(
        "course_progress",
        "LMS_Course_Progress__c",
        ("user_id", "course_id"),
        "progress",
        {
            "course_id": "Course_Id__c",
            "course_name": "Course_Name__c",
            "status": "Status__c",
            "completion_percent": "Completion_Percent__c",
            "time_spent_seconds": "Time_Spent_Seconds__c",
            "enrolled_at": "Enrolled_At__c",
            "completed_at": "Completed_At__c",
            "score": "Score__c",
        },
        numbers=("completion_percent", "time_spent_seconds", "score"),
        times=("enrolled_at", "completed_at"),
    ),
    "certificates": Kind(
        "certificates",
        "LMS_Certificate__c",
        ("id",),
        "certificate",
        {
            "course_id": "Course_Id__c",
            "course_name": "Course_Name__c",
            "issued_at": "Issued_At__c",
            "expires_at": "Expires_At__c",
            "url": "Url__c",
        },
        times=("issued_at", "expires_at"),
    ),
    "badges": Kind(
        "badges",
        "LMS_Badge__c",
        ("id",),
        "badge",
        {"badge_name": "Badge_Name__c", "badge_type": "Badge_Type__c", "issued_at": "Issued_At__c"},
        times=("issued_at",),
    ),
}
# LMS column -> delivered column where the two differ (a badge's name and type)
RENAMED = {"badges": {"name": "badge_name", "type": "badge_type"}}


def delivered_columns(kind: Kind) -> list[str]:
    return [*COMMON, *kind.fields]


def salesforce_fields(kind: Kind) -> dict[str, str]:
    return {**COMMON, **kind.fields}


def fingerprint_columns(kind: Kind) -> list[str]:
    """What a record's fingerprint covers: everything sent but its External ID, which is the key it is
    stored under (hashing a million unique keys would be a third of the work for nothing)."""
    return [column for column in delivered_columns(kind) if column != "external_id"]
