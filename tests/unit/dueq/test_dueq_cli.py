"""The ``dueq`` group turns errors into one line with the right exit code, nested or not."""

from __future__ import annotations

from click.testing import CliRunner

from dueq.cli import main


def test_settings_refused_by_validation_are_a_usage_error_in_one_line() -> None:
    result = CliRunner().invoke(
        main, ["worker", "--import", "examples.demo"], env={"DUEQ_CONCURRENCY": "-3"}
    )
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: invalid settings: concurrency: Input should be greater than or equal to 0"
    )


def test_an_invalid_trigger_is_a_usage_error_in_one_line() -> None:
    result = CliRunner().invoke(main, ["next", "* * *"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid expr '* * *'")


def test_up_with_an_app_that_cannot_be_imported_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["up", "--app", "no_such_app_module_xyz"])
    assert result.exit_code == 2
    assert "cannot import the app 'no_such_app_module_xyz'" in result.stderr
