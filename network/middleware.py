from django.conf import settings
from django.http import JsonResponse


class ApiBodySizeLimitMiddleware:
    """Answer 413 before reading a too-large API body (Django alone would answer 400 after buffering it).

    FITS uploads have their own, larger limit, enforced while streaming in the upload view.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path
        streamed = path.endswith("/image") or "/calibration/" in path
        if path.startswith("/api/") and not streamed:
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse({"detail": "Content-Length is not a number.", "errors": {}}, status=400)
            if length > settings.API_MAX_BODY_BYTES:
                return JsonResponse(
                    {
                        "detail": f"Request body of {length} bytes is over the limit of "
                        f"{settings.API_MAX_BODY_BYTES} bytes.",
                        "errors": {},
                    },
                    status=413,
                )
        return self.get_response(request)
