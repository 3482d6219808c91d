"""What a test does when something of the system it needs is not there:
locally it skips, saying what is missing; in CI (CI=true) it fails, since
CI installs every component the tests need (.ci/system-packages)."""
from __future__ import annotations

import os

import pytest


def unavailable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)
