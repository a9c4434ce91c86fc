"""``ssp-ledger CMD ...`` builds only the command it runs, and answers exactly as the whole
application does (same help, same errors, same output)."""

from __future__ import annotations

import os

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


def test_the_command_asks_numpys_blas_for_one_thread_unless_told(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ssp_ledger.cli.app import BLAS_THREADS, single_threaded_blas

    for name in BLAS_THREADS:
        monkeypatch.delenv(name, raising=False)
    single_threaded_blas()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    for name in BLAS_THREADS:  # a caller's own sizing, under any of the names, is kept
        for other in BLAS_THREADS:
            monkeypatch.delenv(other, raising=False)
        monkeypatch.setenv(name, "3")
        single_threaded_blas()
        assert {n: os.environ.get(n) for n in BLAS_THREADS} == {
            n: "3" if n == name else None for n in BLAS_THREADS}
