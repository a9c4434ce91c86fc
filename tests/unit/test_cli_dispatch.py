"""``ssp-ledger CMD ...`` builds only the command it runs, and answers exactly as the whole
application does (same help, same errors, same output)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ssp_ledger.cli.app import _for, app


def test_a_plain_command_is_run_by_a_copy_holding_it_alone() -> None:
    single = _for("report")
    assert single is not app
    assert [info.callback.__name__ for info in single.registered_commands
            if info.callback is not None] == ["report"]
    assert single.registered_groups == []
    assert len(app.registered_commands) > 10  # the application itself is left whole
    assert _for("export-table").registered_commands[0].name == "export-table"
    for other in ("", "--help", "--version", "scenario", "rep", "reportx"):
        assert _for(other) is app


@pytest.mark.parametrize("args", [
    ["report", "--help"],
    ["report"],
    ["report", "participation", "--as-of", "2011-13-31"],
    ["export-table", "--help"],
    ["verify", "--no-such-option"],
])
def test_the_copy_answers_as_the_whole_application(args: list[str]) -> None:
    runner = CliRunner()
    whole = runner.invoke(app, args, prog_name="ssp-ledger")
    single = runner.invoke(_for(args[0]), args, prog_name="ssp-ledger")
    assert (single.exit_code, single.output) == (whole.exit_code, whole.output)
    assert whole.output  # the test can fail
