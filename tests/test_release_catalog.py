"""The Snakemake plugin catalog's page for this plugin, rendered locally the way the catalog builds it.

The catalog (snakemake/snakemake-plugin-catalog) installs the package, reads the settings from the
storage plugin registry and the example queries from the provider, converts ``docs/intro.md`` and
``docs/further.md`` from Markdown with m2r2 (intro headings start at ``*``, further's at ``=``, because
the page puts further.md under its own "Further details" heading), and puts them into one
reStructuredText page with its own Installation, Usage (queries, default provider, within the workflow),
Settings and Further details sections. This test rebuilds that page's structure in our own words and
renders it with docutils: no warning, no duplicated section, no relative link, every setting present.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import docutils.core
import m2r2
import pytest
from snakemake_interface_storage_plugins.registry import StoragePluginRegistry

ROOT = Path(__file__).resolve().parents[1]
# reStructuredText section marks in the order the catalog uses them for page levels.
MARKS = '#*=-^"~:`_+<'
CATALOG_SECTIONS = {"Installation", "Usage", "Queries", "As default provider", "Within the workflow",
                    "Settings", "Further details"}


def _md_to_rst(text: str, first_mark: int) -> str:
    renderer = m2r2.RestRenderer()
    renderer.hmarks = {i + 1: mark for i, mark in enumerate(MARKS[first_mark:])}
    return m2r2.convert(text, renderer=renderer)


def _table(rows: list[list[str]]) -> str:
    out = [".. list-table::", "   :header-rows: 1", ""]
    for row in rows:
        out.append("   * - " + row[0])
        out.extend("     - " + cell for cell in row[1:])
    return "\n".join(out)


@pytest.fixture(scope="module")
def page() -> str:
    plugin = StoragePluginRegistry().get_plugin("majora")
    settings = plugin.get_settings_info()
    queries = plugin.storage_provider.example_queries()
    intro = _md_to_rst((ROOT / "docs" / "intro.md").read_text(), 2)
    further = _md_to_rst((ROOT / "docs" / "further.md").read_text(), 3)
    title = "Snakemake storage plugin: majora"
    settings_rows = [["CLI argument", "Description", "Default", "Type"]] + [
        [f"``{s['cliarg']} {s.get('metavar') or 'VALUE'}``", str(s.get("help") or ""),
         f"``{s.get('default')!r}``", getattr(s.get("type"), "__name__", "str")]
        for s in settings
    ]
    query_rows = [["Query type", "Query", "Description"]] + [
        [q.type.name.lower(), f"``{q.query}``", q.description] for q in queries
    ]
    parts = [
        title, "#" * len(title), "", intro, "",
        "Installation", "*" * 12, "", "::", "", "    pip install snakemake-storage-plugin-majora", "",
        "Usage", "*" * 5, "",
        "Queries", "=" * 7, "", _table(query_rows), "",
        "As default provider", "=" * 19, "", "::", "",
        "    snakemake --default-storage-provider majora --default-storage-prefix ...", "",
        "Within the workflow", "=" * 19, "", "::", "", '    storage:', '        provider="majora",', "",
        "Settings", "*" * 8, "", _table(settings_rows), "",
        "Further details", "*" * 15, "", further, "",
    ]
    return "\n".join(parts)


def test_page_renders_without_warnings(page: str, tmp_path: Path) -> None:
    warnings = io.StringIO()
    html = docutils.core.publish_string(
        page, writer="html",
        settings_overrides={"warning_stream": warnings, "report_level": 2, "halt_level": 5},
    ).decode()
    assert warnings.getvalue() == "", warnings.getvalue()
    (tmp_path / "majora.html").write_text(html)  # for a look by hand
    assert "Re-runs without asking Majora" in html and "Input only" in html


def test_no_section_is_duplicated_or_lost(page: str) -> None:
    doctree = docutils.core.publish_doctree(page, settings_overrides={"report_level": 5})
    titles = [node.astext() for node in doctree.findall(lambda n: n.tagname == "title")]
    assert len(titles) == len(set(titles)), sorted(t for t in titles if titles.count(t) > 1)
    # intro.md and further.md add no section of their own: the catalog would turn a further.md heading
    # into a title two levels below "Further details" (docutils: "Inconsistent title style").
    assert set(titles) - {"Snakemake storage plugin: majora"} <= CATALOG_SECTIONS, titles
    text = doctree.astext()
    for topic in ("Logging in", "Input only: not a default storage provider", "Re-runs without asking Majora",
                  "Clusters", "Nextflow"):
        assert topic in text


def test_links_are_absolute_and_point_at_the_declared_repository() -> None:
    import tomllib

    repo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Repository"]
    for name in ("intro.md", "further.md"):
        text = (ROOT / "docs" / name).read_text()
        links = re.findall(r"\]\(([^)]+)\)", text)
        assert links, name
        for link in links:
            assert link.startswith("https://"), f"{name}: relative link {link} breaks on the catalog"
    assert repo in (ROOT / "docs" / "further.md").read_text()


def test_every_setting_documented_and_default_provider_question_answered() -> None:
    plugin = StoragePluginRegistry().get_plugin("majora")
    further = (ROOT / "docs" / "further.md").read_text()
    assert "--default-storage-provider" in further and "read" in further
    for s in plugin.get_settings_info():
        assert s.get("help"), f"setting {s['name']} has no help text for the catalog's table"
    assert "recheck" in further and "ledger_dir" in further
