"""The report in the tests: a report.Report written compactly as a dict, and the HTML page read back as a
browser's parser sees it."""
from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from utilities import html_generator
from utilities.report import Group, ListedFile, Report, Summary


def as_report(data: dict[str, Any]) -> Report:
    """A report.Report from a dict shaped like the JSON export (plus the page's extras: database,
    duration_seconds, error_paths, all_files)."""
    all_files = data.get("all_files")
    groups = [Group(g["size"], g["hash"], list(g["files"]), dict(g.get("hard_links", {})))
              for g in data.get("groups", [])]
    summary = dict(data["summary"])
    summary.setdefault("redundant_files", sum(g.count - 1 for g in groups))
    return Report(
        roots=list(data.get("roots", [])), algorithm=data.get("algorithm", ""), finished=data.get("finished", True),
        summary=Summary(**summary), groups=groups,
        unreadable=[(e["path"], e["error"]) for e in data.get("error_paths", [])],
        generated_at=data.get("generated_at", 0.0), database=data.get("database", ""),
        duration_seconds=data.get("duration_seconds"),
        all_files=None if all_files is None else [ListedFile(f["path"], f["size"], f["hash"]) for f in all_files],
        interruption=data.get("interruption"))


def render_report(data: dict[str, Any], **kw: Any) -> str:
    """html_generator.render_report of as_report(data)."""
    return html_generator.render_report(as_report(data), **kw)


def write_report(path: Any, data: dict[str, Any], **kw: Any) -> None:
    """html_generator.write_report of as_report(data)."""
    html_generator.write_report(path, as_report(data), **kw)


class Doc(HTMLParser):
    """Every start tag with its attributes, and the text of each <script> and <style>."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.styles: list[tuple[dict[str, str | None], str]] = []
        self._in: tuple[str, dict[str, str | None], list[str]] | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("script", "style"):
            self._in = (tag, dict(attrs), [])

    def handle_data(self, data: str) -> None:
        if self._in:
            self._in[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._in and tag == self._in[0]:
            (self.scripts if tag == "script" else self.styles).append((self._in[1], "".join(self._in[2])))
            self._in = None
