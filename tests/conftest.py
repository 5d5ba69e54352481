"""Markers by directory: tests/unit -> unit, tests/integration -> integration, tests/e2e -> e2e."""

import pathlib

import pytest

_ROOT = pathlib.Path(__file__).parent


def pytest_collection_modifyitems(items):
    for item in items:
        part = pathlib.Path(item.fspath).relative_to(_ROOT).parts[0]
        if part in ("unit", "integration", "e2e"):
            item.add_marker(getattr(pytest.mark, part))


# Hypothesis: `HYPOTHESIS_PROFILE=thorough make unit` for a long property run.
def _hypothesis_profiles():
    import os

    from hypothesis import settings

    settings.register_profile("default", deadline=None)
    settings.register_profile("thorough", deadline=None, max_examples=20000)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_hypothesis_profiles()
