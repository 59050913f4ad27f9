"""Snakemake finds the plugin (editable and wheel installs), and importing it is always safe."""

import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SITE = Path(sysconfig.get_paths()["purelib"])


def _run(python, *args, cwd, env=None, check=True):
    proc = subprocess.run(
        [str(python), *args], cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=120,
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


def test_editable_install_is_discovered(tmp_path):
    out = _run(sys.executable, "-m", "snakemake", "--help", cwd=tmp_path).stdout
    for flag in ("domain", "profile", "config-file", "token-file", "min-ttl", "fetch-concurrency",
                 "task-deadline", "max-requests-per-second"):
        assert f"--storage-majora-{flag}" in out
    where = _run(sys.executable, "-c", "import snakemake_storage_plugin_majora as m; print(m.__file__)",
                 cwd=tmp_path).stdout
    assert where.startswith(str(ROOT))


def test_wheel_install_is_discovered(tmp_path):
    """Build the wheel and install it alone into a throwaway venv whose dependencies come from ours."""
    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", str(ROOT), "-w", str(dist)],
        capture_output=True, text=True, timeout=300,
    )
    if build.returncode != 0:
        pytest.skip(f"cannot build the wheel here (offline without hatchling?): {build.stderr[-300:]}")
    wheel = next(dist.glob("*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps",
                    str(wheel)], check=True, timeout=300)
    venv_site = next((venv / "lib").glob("python3*/site-packages"))
    # Dependencies (snakemake, requests, ...) from the project venv; its editable .pth is not processed
    # from here, so the only snakemake_storage_plugin_majora on the path is the wheel's.
    (venv_site / "zz_deps.pth").write_text(str(SITE) + "\n")
    where = _run(py, "-c", "import snakemake_storage_plugin_majora as m, snakemake_majora as s; "
                 "print(m.__file__); print(s.__file__)", cwd=tmp_path).stdout.split()
    assert all(w.startswith(str(venv_site)) for w in where), where
    out = _run(py, "-m", "snakemake", "--help", cwd=tmp_path).stdout
    assert "--storage-majora-token-file" in out


def test_import_touches_no_network_and_reads_no_config(tmp_path):
    home = tmp_path / "home"
    (home / ".config" / "snakemake-majora").mkdir(parents=True)
    (home / ".config" / "snakemake-majora" / "config.yaml").write_text(": not yaml [\n")
    code = textwrap.dedent(
        """
        import builtins, socket, sys
        opened = []
        real_open = builtins.open
        def spy_open(file, *a, **k):
            opened.append(str(file))
            return real_open(file, *a, **k)
        builtins.open = spy_open
        def no_net(*a, **k):
            raise AssertionError("network used at import")
        socket.socket.connect = no_net
        socket.create_connection = no_net
        import snakemake_storage_plugin_majora as m
        assert m.StorageProvider.__module__ == "snakemake_majora.plugin", m.StorageProvider.__module__
        assert not [p for p in opened if "snakemake-majora" in p or "ocarina" in p.lower()], opened
        print("ok")
        """
    )
    env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "MAJORA_DOMAIN": "not a url"}
    assert _run(sys.executable, "-c", code, cwd=tmp_path, env=env).stdout.strip() == "ok"


def test_broken_dependency_does_not_break_snakemake(tmp_path):
    """If the implementation cannot be imported, Snakemake still runs; using majora:// explains why."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(textwrap.dedent(
        """
        import sys
        class Broken:
            def find_spec(self, name, path=None, target=None):
                if name == "snakemake_majora.ledger":
                    raise ImportError("simulated broken dependency")
        sys.meta_path.insert(0, Broken())
        """
    ))
    env = {"PYTHONPATH": str(hook)}
    assert _run(sys.executable, "-m", "snakemake", "--version", cwd=tmp_path, env=env).stdout.strip()
    (tmp_path / "Snakefile").write_text(textwrap.dedent(
        """
        rule all:
            input: "other.txt"
        rule make:
            output: "other.txt"
            shell: "echo hi > {output}"
        """
    ))
    _run(sys.executable, "-m", "snakemake", "--cores", "1", "--quiet", cwd=tmp_path, env=env)
    assert (tmp_path / "other.txt").exists()
    (tmp_path / "Snakefile").write_text(textwrap.dedent(
        """
        rule all:
            input: storage("majora://biosample/X")
        """
    ))
    proc = _run(sys.executable, "-m", "snakemake", "--cores", "1", "-n", cwd=tmp_path, env=env, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "the majora storage plugin could not be loaded" in out
    assert "simulated broken dependency" in out
