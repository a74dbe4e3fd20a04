"""One error shape for the whole API: `{"detail": "human sentence", "errors": {"field": ["message", ...]}}`."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "Conflicts with what is already stored."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"


def _summary(errors) -> str:
    """A sentence naming the bad fields, so a log line alone says what to fix."""
    if isinstance(errors, dict):
        names = ", ".join(str(k) for k in list(errors)[:10])
        return f"Invalid input: {names}." if names else "Invalid input."
    return "Invalid input."


def api_exception_handler(exc, context):
    if isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None

    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail
        if isinstance(errors, list):
            errors = {"non_field_errors": errors}
        detail = errors.pop("detail", None) if isinstance(errors, dict) else None
        if isinstance(detail, list):
            detail = " ".join(str(d) for d in detail)
        response.data = {"detail": str(detail) if detail else _summary(errors), "errors": errors}
    else:
        detail = response.data.get("detail") if isinstance(response.data, dict) else response.data
        errors = response.data.get("errors", {}) if isinstance(response.data, dict) else {}
        response.data = {"detail": str(detail), "errors": errors}
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def conflict(detail: str, errors: dict | None = None) -> Response:
    return Response({"detail": detail, "errors": errors or {}}, status=status.HTTP_409_CONFLICT)
