"""Release readiness: the wheel and the sdist build, pass `twine check --strict`, and carry what PyPI,
the Snakemake plugin catalog and users need (one version, project URLs, the licence, the changelog)."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import snakemake_majora

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Build both distributions once; no isolation, so no download is needed (hatchling is installed)."""
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out),
         str(ROOT)],
        capture_output=True, text=True, check=False, timeout=280,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def _wheel_metadata(wheel: Path) -> tuple[list[str], object]:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        return names, Parser().parsestr(z.read(meta_name).decode())


def test_twine_check_strict_passes(dists: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", str(dists["wheel"]), str(dists["sdist"])],
        capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2, proc.stdout


def test_version_has_one_source(dists: dict[str, Path]) -> None:
    version = snakemake_majora.__version__
    assert dists["wheel"].name.startswith(f"snakemake_storage_plugin_majora-{version}-")
    assert dists["sdist"].name == f"snakemake_storage_plugin_majora-{version}.tar.gz"
    # The version is written once: pyproject.toml reads it from the package.
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^version\s*=", pyproject, re.M) is None
    assert 'dynamic = ["version"]' in pyproject
    assert f"## [{version}]" in (ROOT / "CHANGELOG.md").read_text()


def test_wheel_metadata_for_pypi_and_the_catalog(dists: dict[str, Path]) -> None:
    names, meta = _wheel_metadata(dists["wheel"])
    urls = dict(v.split(", ", 1) for v in meta.get_all("Project-URL"))
    # The plugin catalog fetches docs/intro.md and docs/further.md from project_urls["Repository"].
    assert urls["Repository"].startswith("https://github.com/")
    assert {"Repository", "Documentation", "Issues"} <= set(urls)
    assert meta["License-Expression"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    requires = meta.get_all("Requires-Dist")
    assert any(r.startswith("snakemake<10,>=") or r.startswith("snakemake>=") for r in requires), requires
    # The discovery shim, the CLI entry point and majora-lite's non-Python files are in the wheel.
    assert "snakemake_storage_plugin_majora/__init__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    with zipfile.ZipFile(dists["wheel"]) as z:
        assert "snakemake-majora = snakemake_majora.cli:main" in z.read(entry_points).decode()
    assert any(n.startswith("majora_lite/majora2/templates/") and n.endswith(".html") for n in names), names
    # majora-lite is its own top-level package: entry point, migrations and shipped data included, and
    # nothing left at its old place inside the plugin package.
    assert {"majora_lite/__main__.py", "majora_lite/majora2/migrations/0004_seq.py",
            "majora_lite/data/orgs.txt", "majora_lite/data/mdv/PHE1"} <= set(names)
    assert any(n.startswith("majora_lite/data/qc/") and n.endswith(".qc") for n in names), names
    assert not any(n.startswith("snakemake_majora/server/") for n in names), names


def test_sdist_carries_licence_changelog_and_docs(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    wanted = {"LICENSE", "CHANGELOG.md", "README.md", "docs/intro.md", "docs/further.md", "pyproject.toml"}
    assert wanted <= names
    assert not any(n.startswith((".venv/", "tests/")) for n in names)
    assert {"majora_lite/README.md", "majora_lite/__main__.py", "majora_lite/data/orgs.txt"} <= names
