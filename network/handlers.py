"""JSON error pages for the API: a client of /api/ never gets an HTML page, even for unknown routes or a crash."""

from django.http import JsonResponse
from django.views.defaults import page_not_found, server_error


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": f"No such resource: {request.path}", "errors": {}}, status=404)
    return page_not_found(request, exception)


def crashed(request):
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Internal error; it has been logged.", "errors": {}}, status=500)
    return server_error(request)
