"""Shared pytest fixtures. Each area keeps its fixtures in its own module, imported here, and the hooks
that report deselected lanes come from lanes.py."""

from fixtures_client import *  # noqa: F403
from fixtures_demo import *  # noqa: F403
from fixtures_plugin import *  # noqa: F403
from fixtures_server import *  # noqa: F403
from lanes import pytest_deselected, pytest_terminal_summary  # noqa: F401
