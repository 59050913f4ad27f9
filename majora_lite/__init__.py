"""majora-lite: a local Majora-compatible server (Django + django-oauth-toolkit on SQLite).

Run it with ``python -m majora_lite <command> ...`` (or ``snakemake-majora server <command> ...``);
``ops/cli.py`` is the command line, ``ops/harness.py`` the Python harness. Layers, top first (a module
imports only its own layer and those below): ``ops`` -> ``server`` -> ``web`` -> ``api`` -> ``majora2``;
see ``docs/architecture.md``. This package imports nothing from ``snakemake_majora``.
"""
