"""``dueq db``: where dueq's schema is, its revisions, and going back."""

from __future__ import annotations

from tests.unit.producer.cli.conftest import Dueq


def test_current_says_none_before_the_first_upgrade_and_the_revision_after(dueq: Dueq) -> None:
    before = dueq("db", "current")
    assert before.exit_code == 0, before.stderr
    assert "revision none" in before.stdout
    assert dueq("db", "upgrade").exit_code == 0
    after = dueq("db", "current")
    assert "revision 0008 (newest)" in after.stdout


def test_history_lists_each_revision_with_its_description(dueq: Dueq) -> None:
    result = dueq("db", "history")
    assert result.exit_code == 0
    assert [line.split("  ")[0] for line in result.stdout.splitlines()] == [
        "0008",
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
    ]


def test_downgrade_to_base_removes_dueqs_tables(dueq: Dueq) -> None:
    assert dueq("db", "upgrade").exit_code == 0
    result = dueq("db", "downgrade", "base", "--yes")
    assert result.exit_code == 0, result.stderr
    assert "revision none" in dueq("db", "current").stdout


def test_a_malformed_database_url_is_a_usage_error_in_one_line(dueq: Dueq) -> None:
    result = dueq("jobs", "list", "--database-url", "not a url")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid database URL")
    assert len(result.stderr.splitlines()) == 1


def test_a_sqlite_file_in_a_missing_folder_is_a_usage_error(dueq: Dueq) -> None:
    result = dueq("db", "upgrade", "--database-url", "sqlite:////no/such/folder/dueq.sqlite3")
    assert result.exit_code == 2
    assert "unable to open database file" in result.stderr
    assert len(result.stderr.splitlines()) == 1
