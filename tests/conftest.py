"""Shared pytest fixtures. Each area keeps its fixtures in its own module, imported here."""

from fixtures_client import *  # noqa: F403
from fixtures_plugin import *  # noqa: F403
from fixtures_server import *  # noqa: F403
