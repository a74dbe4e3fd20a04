from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.http import FileResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, UnsupportedMediaType, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from network.errors import Conflict, PayloadTooLarge
from network.pagination import CursorPagination
from network.permissions import IsSiteAgent, acting_site
from observations import images, lightcurves, services
from observations.filters import ObservationFilter
from observations.models import Observation
from observations.serializers import ObservationSerializer, ObservationSubmitSerializer
from targets.models import Target


def visible_observations(request):
    qs = Observation.objects.select_related("target").visible_to(request.user)
    me = acting_site(request)
    if me is not None:
        # A site key acts as its site only: it reads its own observations.
        qs = qs.filter(site=me)
    return qs


class ObservationPagination(CursorPagination):
    ordering = ("-observed_at", "-created_at")


class ObservationListView(generics.ListCreateAPIView):
    serializer_class = ObservationSerializer
    filterset_class = ObservationFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user, no database
            return Observation.objects.none()
        return visible_observations(self.request)

    pagination_class = ObservationPagination

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsSiteAgent()]
        return super().get_permissions()

    @extend_schema(
        request=ObservationSubmitSerializer,
        responses={
            201: inline_serializer(
                "ObservationAccepted",
                {"observation_id": serializers.UUIDField(), "status": serializers.CharField(),
                 "created": serializers.BooleanField()},
            )
        },
        description="One observation or a list of up to 1,000; idempotent by observation_id.",
    )
    def post(self, request, *args, **kwargs):
        data = request.data
        many = isinstance(data, list)
        items = data if many else [data]
        if many and not items:
            raise ValidationError({"detail": "Empty list: nothing to store."})
        if len(items) > services.MAX_BATCH:
            raise ValidationError({"detail": f"At most {services.MAX_BATCH} observations per request."})
        results = services.observations_submit(site=acting_site(request), items=items, many=many)
        body = [{"observation_id": r.observation_id, "status": "accepted", "created": r.created} for r in results]
        any_new = any(r.created for r in results)
        return Response(body if many else body[0], status=status.HTTP_201_CREATED if any_new else status.HTTP_200_OK)


class ObservationDetailView(APIView):
    @extend_schema(responses=ObservationSerializer)
    def get(self, request, observation_id):
        obs = get_object_or_404(visible_observations(request), pk=observation_id)
        return Response(ObservationSerializer(obs, context={"request": request}).data)


class FitsStreamParser(BaseParser):
    """Declares the media types the upload takes; the view reads the stream itself, in chunks."""

    media_type = "application/fits"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class ObservationImageView(APIView):
    parser_classes = [FitsStreamParser]

    def get_permissions(self):
        if self.request.method == "PUT":
            return [IsSiteAgent()]
        return super().get_permissions()

    @extend_schema(
        request={"application/fits": bytes},
        responses={202: inline_serializer("ImageQueued", {"status": serializers.CharField()})},
    )
    def put(self, request, observation_id):
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in images.FITS_MEDIA_TYPES:
            raise UnsupportedMediaType(
                media_type or "none", detail=f"Send the frame as application/fits, not '{media_type or 'nothing'}'."
            )
        encoding = request.headers.get("Content-Encoding", "identity").lower()
        if encoding not in ("identity", "gzip", ""):
            raise UnsupportedMediaType(media_type, detail=f"Content-Encoding '{encoding}' is not supported; use gzip.")
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
        if declared > settings.IMAGE_MAX_BYTES:
            raise PayloadTooLarge(f"The frame is over the limit of {settings.IMAGE_MAX_BYTES} bytes.")
        obs = get_object_or_404(Observation, pk=observation_id)
        if obs.site_id != acting_site(request).pk:
            raise PermissionDenied("A site key may only upload images of its own site's observations.")
        try:
            frame = images.stream_to_tempfile(
                request._request, max_bytes=settings.IMAGE_MAX_BYTES, directory=settings.FILE_UPLOAD_TEMP_DIR
            )
        except images.FrameTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        try:
            if frame.size_bytes == 0:
                raise ValidationError({"detail": "The body is empty; send the FITS file as the request body."})
            try:
                images.inspect_fits(frame, filter_known=bool(obs.filter))
            except images.NotAFitsImage as exc:
                raise ValidationError({"detail": str(exc), "image": [str(exc)]}) from exc
            try:
                stored = services.observation_attach_image(observation=obs, frame=frame)
            except services.ImageConflict as exc:
                raise Conflict(str(exc)) from exc
        finally:
            frame.path.unlink(missing_ok=True)
        if not stored:
            return Response({"status": "unchanged", "sha256": frame.sha256}, status=status.HTTP_200_OK)
        return Response({"status": "queued", "sha256": frame.sha256}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "application/fits"): bytes})
    def get(self, request, observation_id):
        obs = get_object_or_404(visible_observations(request), pk=observation_id)
        return _serve_file(obs.image, "application/fits", f"{obs.pk}.fits")


class ObservationPreviewView(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("size", str, enum=["full", "thumbnail"])],
        responses={(200, "image/png"): bytes},
    )
    def get(self, request, observation_id):
        obs = get_object_or_404(visible_observations(request), pk=observation_id)
        field = obs.thumbnail if request.query_params.get("size") == "thumbnail" else obs.preview
        return _serve_file(field, "image/png", f"{obs.pk}.png")


def _serve_file(field, content_type: str, filename: str):
    if not field:
        raise NotFound("No such file (yet) for this observation.")
    if isinstance(field.storage, FileSystemStorage):
        handle = field.storage.open(field.name, "rb")
        name = filename + (".gz" if field.name.endswith(".gz") else "")
        return FileResponse(handle, content_type=content_type, filename=name)
    return HttpResponseRedirect(field.url)  # a short-lived presigned URL from the object store


class LightcurveView(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("filter", str), OpenApiParameter("site_id", str),
            OpenApiParameter("after", str), OpenApiParameter("before", str),
            OpenApiParameter("format", str, enum=list(lightcurves.FORMATS)),
            OpenApiParameter("align_sites", bool, description="Subtract solved per-site offsets (default true)."),
            OpenApiParameter("obscode", str, description="AAVSO observer code for format=aavso."),
        ],
        responses={200: inline_serializer("Lightcurve", {"target_id": serializers.UUIDField(),
                                                         "name": serializers.CharField(),
                                                         "points": serializers.ListField()})},
    )
    def get(self, request, target_id):
        target = get_object_or_404(Target, pk=target_id)
        fmt = request.query_params.get("format", "json")
        if fmt not in lightcurves.FORMATS:
            raise ValidationError({"format": [f"Must be one of {', '.join(lightcurves.FORMATS)}."]})
        filterset = ObservationFilter(request.query_params, queryset=visible_observations(request))
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        qs = filterset.qs.filter(target=target)
        align = request.query_params.get("align_sites", "true").lower() not in ("false", "0", "no")
        points, offsets = lightcurves.lightcurve(qs, align_sites=align)
        if fmt != "json":
            obscode = (request.query_params.get("obscode") or "NONE").strip().upper()[:10] or "NONE"
            return lightcurves.download(target, points, fmt=fmt, obscode=obscode)
        return Response(
            {"target_id": str(target.pk), "name": target.name, "points": [p.to_dict() for p in points],
             "site_offsets": offsets}
        )  # fmt: skip
