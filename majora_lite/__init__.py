"""majora-lite: a local Majora-compatible server (Django + django-oauth-toolkit on SQLite).

Run it with ``python -m majora_lite <command> ...``; see ``cli.py`` and
``docs/architecture.md``. This package imports nothing from the client modules.
"""
