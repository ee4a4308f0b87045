"""The embedded LMS must refuse what a real LMS refuses, on SQLite and PostgreSQL alike.

Every other test of the engine trusts these refusals and this read-back shape, so each is checked here
against the real database rather than assumed.
"""

from __future__ import annotations

import pytest

from rostersync_pipelines.errors import TargetError
from rostersync_pipelines.targets.base import (
    DEPARTMENT_STATE_COLUMNS,
    GROUP_MEMBER_STATE_COLUMNS,
    GROUP_STATE_COLUMNS,
    USER_STATE_COLUMNS,
    Operation,
)
from rostersync_pipelines.targets.embedded import EmbeddedLms


@pytest.fixture
def lms(database_url):
    target = EmbeddedLms(database_url)
    yield target
    target.dispose()


def create(lms: EmbeddedLms, entity: str, **values) -> str:
    return lms.apply(Operation(entity, "create", None, values))


def update(lms: EmbeddedLms, entity: str, lms_id: str, **values) -> str:
    return lms.apply(Operation(entity, "update", lms_id, values))


def delete(lms: EmbeddedLms, entity: str, lms_id: str) -> str:
    return lms.apply(Operation(entity, "delete", lms_id))


def membership(lms: EmbeddedLms, action: str, group_id: str, user_id: str) -> str:
    return lms.apply(Operation("group_members", action, group_id, {"user_id": user_id}))


def user_row(lms: EmbeddedLms, user_id: str) -> dict:
    users = lms.read_state().users
    return users[users["id"] == user_id].iloc[0].to_dict()


def test_departments_tree_and_users_read_back_as_strings(lms):
    root = create(lms, "departments", code="HQ", name="Head office")
    eng = create(
        lms, "departments", code="ENG", name="Engineering", parent_id=root, department_unique_key="d-2"
    )
    boss = create(lms, "users", login="boss", email="boss@example.com", department_id=root)
    jdoe = create(
        lms,
        "users",
        login="jdoe",
        email="jdoe@example.com",
        first_name="Jane",
        department_id=eng,
        manager_id=boss,
        user_unique_key="E-1",
        custom_fields={"site": "Lyon", "level": 3, "tags": ["a"]},
    )

    state = lms.read_state()
    departments = state.departments.set_index("id")
    assert departments.loc[eng].to_dict() == {
        "code": "ENG",
        "name": "Engineering",
        "parent_id": root,
        "department_unique_key": "d-2",
    }
    assert departments.loc[root, "parent_id"] is None
    assert user_row(lms, jdoe) == {
        "id": jdoe,
        "login": "jdoe",
        "email": "jdoe@example.com",
        "first_name": "Jane",
        "last_name": None,
        "department_id": eng,
        "status": "active",
        "user_unique_key": "E-1",
        "manager_id": boss,
        "functional_manager_id": None,
        "role": "learner",
        "custom_fields": {"level": 3, "site": "Lyon", "tags": ["a"]},
    }
    assert user_row(lms, boss)["custom_fields"] is None
    assert all(state.users[column].dtype == object for column in USER_STATE_COLUMNS)


def test_empty_lms_reads_empty_frames_with_the_right_columns(lms):
    state = lms.read_state()
    for frame, columns in [
        (state.users, USER_STATE_COLUMNS),
        (state.departments, DEPARTMENT_STATE_COLUMNS),
        (state.groups, GROUP_STATE_COLUMNS),
        (state.group_members, GROUP_MEMBER_STATE_COLUMNS),
    ]:
        assert frame.empty
        assert list(frame.columns) == columns


@pytest.mark.parametrize("column", ["login", "email"])
def test_login_and_email_are_unique_case_insensitively(lms, column):
    first = create(lms, "users", login="jdoe", email="jdoe@example.com")
    clash = {"login": "JDoe", "email": "other@example.com"} if column == "login" else {}
    clash = clash or {"login": "other", "email": "JDOE@Example.com"}

    with pytest.raises(TargetError, match=f'{column} "{clash[column]}" already belongs to user {first}'):
        create(lms, "users", **clash)
    assert len(lms.read_state().users) == 1


def test_update_to_a_taken_email_is_refused_and_changes_nothing(lms):
    create(lms, "users", login="asmith", email="asmith@example.com")
    taken_by = create(lms, "users", login="jdoe", email="jdoe@example.com")
    mover = create(lms, "users", login="bkim", email="bkim@example.com")

    with pytest.raises(TargetError, match=f'email "JDOE@example.com" already belongs to user {taken_by}'):
        update(lms, "users", mover, email="JDOE@example.com", first_name="Changed")
    assert user_row(lms, mover)["email"] == "bkim@example.com"
    assert user_row(lms, mover)["first_name"] is None
    # Changing only the case of one's own email is not a clash.
    update(lms, "users", mover, email="BKim@example.com")
    assert user_row(lms, mover)["email"] == "BKim@example.com"


def test_department_with_users_or_children_cannot_be_deleted(lms):
    eng = create(lms, "departments", code="ENG")
    team = create(lms, "departments", code="TEAM", parent_id=eng)
    users = [create(lms, "users", login=login, department_id=eng) for login in ("jdoe", "asmith", "bkim")]
    update(lms, "users", users[2], status="inactive")  # inactive users still count

    with pytest.raises(
        TargetError, match=f'department {eng} \\(code "ENG"\\) still has 3 users: jdoe, asmith, bkim$'
    ):
        delete(lms, "departments", eng)
    for user_id in users:
        update(lms, "users", user_id, department_id=team)
    with pytest.raises(TargetError, match=f'still has 1 child department: {team} \\(code "TEAM"\\)'):
        delete(lms, "departments", eng)
    assert len(lms.read_state().departments) == 2

    for user_id in users:
        update(lms, "users", user_id, department_id=None)
    assert delete(lms, "departments", team) == team
    assert delete(lms, "departments", eng) == eng
    assert lms.read_state().departments.empty


def test_parent_cycle_is_refused(lms):
    top = create(lms, "departments", code="TOP")
    middle = create(lms, "departments", code="MID", parent_id=top)
    bottom = create(lms, "departments", code="BOT", parent_id=middle)

    with pytest.raises(TargetError, match="cycle"):
        update(lms, "departments", top, parent_id=bottom)
    with pytest.raises(TargetError, match="cycle"):
        update(lms, "departments", top, parent_id=top)
    assert lms.read_state().departments.set_index("id").loc[top, "parent_id"] is None
    update(lms, "departments", bottom, parent_id=top)  # moving up the tree is fine


def test_deactivate_is_an_update_of_status(lms):
    user = create(lms, "users", login="jdoe")
    update(lms, "users", user, status="inactive")
    assert user_row(lms, user)["status"] == "inactive"
    with pytest.raises(TargetError, match='status "gone"'):
        update(lms, "users", user, status="gone")


def test_group_membership_add_is_idempotent_and_remove_works(lms):
    group = create(lms, "groups", name="Onboarding")
    user = create(lms, "users", login="jdoe")
    with pytest.raises(TargetError, match=f'group name "Onboarding" already belongs to group {group}'):
        create(lms, "groups", name="Onboarding")

    membership(lms, "add_member", group, user)
    membership(lms, "add_member", group, user)
    assert lms.read_state().group_members.to_dict("records") == [{"group_id": group, "user_id": user}]
    update(lms, "groups", group, name="Welcome")
    assert lms.read_state().groups.to_dict("records") == [{"id": group, "name": "Welcome"}]
    membership(lms, "remove_member", group, user)
    assert lms.read_state().group_members.empty


def test_deleting_a_user_removes_their_memberships_but_not_while_they_manage_someone(lms):
    group = create(lms, "groups", name="All")
    boss = create(lms, "users", login="boss")
    report = create(lms, "users", login="jdoe", functional_manager_id=boss)
    membership(lms, "add_member", group, boss)

    with pytest.raises(TargetError, match=f"user {boss} still manages 1 user: jdoe"):
        delete(lms, "users", boss)
    update(lms, "users", report, functional_manager_id=None)
    delete(lms, "users", boss)
    state = lms.read_state()
    assert state.users["login"].tolist() == ["jdoe"]
    assert state.group_members.empty


def test_a_clash_another_writer_won_is_caught_by_the_database_and_named(lms, monkeypatch):
    """Simulates a writer inserting between our check and our write: only the unique index can stop it."""
    first = create(lms, "users", login="jdoe")
    real_check, calls = EmbeddedLms._check_unique_user, []

    def check_that_misses_the_first_time(self, connection, values, lms_id):
        calls.append(values)
        if len(calls) > 1:
            real_check(self, connection, values, lms_id)

    monkeypatch.setattr(EmbeddedLms, "_check_unique_user", check_that_misses_the_first_time)
    with pytest.raises(TargetError, match=f'login "JDOE" already belongs to user {first}'):
        create(lms, "users", login="JDOE")
    assert len(calls) == 2
    assert lms.read_state().users["login"].tolist() == ["jdoe"]


def test_unknown_references_are_refused(lms):
    with pytest.raises(TargetError, match="department 99 does not exist"):
        create(lms, "users", login="jdoe", department_id="99")
    with pytest.raises(TargetError, match="user 42 does not exist"):
        create(lms, "users", login="jdoe", manager_id="42")
    with pytest.raises(TargetError, match="needs a login"):
        create(lms, "users", email="nologin@example.com")
    with pytest.raises(TargetError, match="^user 7 does not exist$"):
        update(lms, "users", "7", status="inactive")
    assert lms.read_state().users.empty


def test_unknown_entity_and_action_are_refused(lms):
    with pytest.raises(TargetError, match='unknown entity "courses"'):
        lms.apply(Operation("courses", "create", None, {}))
    with pytest.raises(TargetError, match='groups cannot "add_member"'):
        lms.apply(Operation("groups", "add_member", "1", {"user_id": "1"}))
    with pytest.raises(TargetError, match="users have no writable column shoe_size"):
        create(lms, "users", login="jdoe", shoe_size="44")


def test_superadmin_role_round_trips(lms):
    user = create(lms, "users", login="root", role="superadmin")
    assert user_row(lms, user)["role"] == "superadmin"
