"""Shared fixtures: one embedded cluster for the whole run, and a ``ray`` fixture per test.

Starting a cluster is the slow part, so tests share one (real worker processes, so every test
also proves pickling). Only tests about init/shutdown themselves start their own.
"""

from __future__ import annotations

import pytest

import raycompat


@pytest.fixture(scope="session")
def ray_session():
    """The shared embedded cluster: 2 CPU slots, a custom resource, a dashboard."""
    raycompat.install_as_ray()
    ctx = raycompat.init(num_cpus=2, resources={"special": 1}, include_dashboard=True)
    yield ctx
    raycompat.shutdown()


@pytest.fixture
def ray(ray_session):
    """The raycompat module, initialized on the shared cluster."""
    assert raycompat.is_initialized()
    return raycompat
