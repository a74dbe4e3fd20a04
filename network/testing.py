"""Helpers for tests across apps (kept out of conftest.py so test modules can import them unambiguously)."""

from rest_framework.test import APIClient


def site_client(key: str) -> APIClient:
    """An API client that authenticates as a site, with its key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def token_client(user) -> APIClient:
    """An API client that authenticates as a person, with a personal token."""
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    client.user = user
    return client
