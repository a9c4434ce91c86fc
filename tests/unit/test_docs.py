"""Every ```python block in the README and docs/ runs (blocks of one file share a namespace)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(doc: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc_{doc.stem}"}
    for n, block in enumerate(BLOCK.findall(doc.read_text(encoding="utf-8")), start=1):
        code = compile(block, f"{doc.name}#block{n}", "exec")
        exec(code, namespace)  # running our own documentation is the point


def test_readme_gives_exactly_two_setup_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^```sh\n(.*?)\n```", section, re.MULTILINE | re.DOTALL)
    assert len(commands) == 2
    assert commands[0].endswith("ssp-ledger demo")
    assert commands[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest" in ci


def test_event_catalogue_examples_decode() -> None:
    import msgspec

    from ssp_ledger.events import EVENT_TYPES, DomainEvent

    text = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```json\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    decoded = [msgspec.json.decode(b.encode(), type=DomainEvent) for b in blocks]  # type: ignore[arg-type]
    assert {type(e).__name__ for e in decoded} == set(EVENT_TYPES)
