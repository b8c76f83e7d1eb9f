"""Every link between the README and the files of ``docs/`` leads somewhere: the README is a
front page whose known limits, benchmarks and sections each link to their detail in
``docs/``, so a link to a file that moved or a heading that was renamed would leave a reader
at the top of a long page, or nowhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: ``[text](target)``, the target neither a web address nor a mail address.
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The headings' anchors (a repeated heading's with GitHub's ``-1``, ``-2``) and the
    ``<a id>`` anchors of a page."""
    text = FENCE.sub("", page.read_text("utf-8"))
    found: set[str] = set(re.findall(r'<a id="([^"]+)">', text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text("utf-8")))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_link_leads_to_a_file_and_a_heading(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(target)
    assert broken == []


def test_the_readme_links_each_known_limit_to_its_detail() -> None:
    """Every limit the README lists in a line or two links to its entry in docs/limits.md,
    and every entry there is linked from the README: a limit added to one and not the other
    fails here."""
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme[readme.index("## Known limits and gaps") :]
    linked = set(re.findall(r"\(docs/limits\.md#([\w-]+)\)", section))
    limits = ROOT / "docs" / "limits.md"
    entries = set(re.findall(r'^- <a id="([^"]+)"></a>', limits.read_text("utf-8"), re.M))
    bullets = re.findall(r"^- ", limits.read_text("utf-8"), re.M)
    assert len(entries) == len(bullets)
    assert linked == entries
