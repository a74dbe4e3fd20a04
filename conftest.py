"""Shared pytest fixtures: users of every role, sites with keys, API clients that authenticate like real callers."""

import pytest
from rest_framework.test import APIClient

from network.offline import configure_astropy_offline
from network.testing import site_client, token_client

configure_astropy_offline()


@pytest.fixture(autouse=True)
def _isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.CELERY_TASK_EAGER_PROPAGATES = False
    from network.celery import app

    app.conf.task_always_eager = True


@pytest.fixture(autouse=True)
def _fresh_ranking_caches():
    from targets import ranking

    ranking.reset_caches()
    yield
    ranking.reset_caches()


@pytest.fixture
def api():
    """An API client without credentials."""
    return APIClient()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The default hasher is deliberately slow; tests make many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def observer(db):
    from targets.tests.factories import UserFactory

    return UserFactory(username="observer")


@pytest.fixture
def other_observer(db):
    from targets.tests.factories import UserFactory

    return UserFactory(username="other-observer")


@pytest.fixture
def coordinator(db):
    from targets.tests.factories import UserFactory

    return UserFactory(username="coordinator", is_staff=True)


@pytest.fixture
def researcher(db):
    from targets.tests.factories import UserFactory

    return UserFactory(username="researcher")


@pytest.fixture
def observer_client(observer):
    return token_client(observer)


@pytest.fixture
def other_observer_client(other_observer):
    return token_client(other_observer)


@pytest.fixture
def coordinator_client(coordinator):
    return token_client(coordinator)


@pytest.fixture
def researcher_client(researcher):
    return token_client(researcher)


@pytest.fixture
def site_a(observer):
    from targets.tests.factories import make_site

    return make_site(owner=observer, name="Site A")


@pytest.fixture
def site_b(other_observer):
    from targets.tests.factories import make_site

    return make_site(owner=other_observer, name="Site B", latitude=-30.2, longitude=-70.7)


@pytest.fixture
def site_a_client(site_a):
    _, key = site_a
    return site_client(key)


@pytest.fixture
def site_b_client(site_b):
    _, key = site_b
    return site_client(key)
