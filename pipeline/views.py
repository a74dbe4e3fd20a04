from django.conf import settings
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, UnsupportedMediaType, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from network.errors import PayloadTooLarge
from network.fields import AwareDateTimeField
from network.permissions import acting_site, is_coordinator
from observations import images
from observations.views import FitsStreamParser
from pipeline import services
from pipeline.frames import FrameError
from pipeline.models import CalibrationFrame
from sites.models import Site


class CalibrationFrameSerializer(serializers.ModelSerializer):
    calibration_id = serializers.UUIDField(source="id")
    site_id = serializers.UUIDField()
    uploaded_at = AwareDateTimeField()

    class Meta:
        model = CalibrationFrame
        fields = ["calibration_id", "site_id", "kind", "filter", "binning", "temperature_c", "exposure_sec", "shape",
                  "sha256", "size_bytes", "is_active", "uploaded_at"]  # fmt: skip
        read_only_fields = fields


def _may_manage(request, site: Site) -> bool:
    me = acting_site(request)
    if me is not None:
        return me.pk == site.pk
    return is_coordinator(request.user) or site.owner_id == request.user.pk


class CalibrationUploadView(APIView):
    """`PUT /api/v1/sites/{site_id}/calibration/{kind}`: a master bias, dark or flat (FITS body)."""

    parser_classes = [FitsStreamParser]

    @extend_schema(request={"application/fits": bytes}, responses={201: CalibrationFrameSerializer})
    def put(self, request, site_id, kind):
        site = get_object_or_404(Site, pk=site_id)
        if not _may_manage(request, site):
            raise PermissionDenied("Only the site itself, its owner or a coordinator may upload its masters.")
        if kind not in CalibrationFrame.Kind.values:
            raise ValidationError({"kind": [f"Must be one of {', '.join(CalibrationFrame.Kind.values)}."]})
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type not in images.FITS_MEDIA_TYPES:
            raise UnsupportedMediaType(media_type, detail="Send the master as application/fits.")
        try:
            frame = images.stream_to_tempfile(request._request, max_bytes=settings.IMAGE_MAX_BYTES)
        except images.FrameTooLarge as exc:
            raise PayloadTooLarge(str(exc)) from exc
        try:
            try:
                images.inspect_fits(frame, require_keywords=False)
                calibration = services.calibration_store(site=site, kind=kind, frame=frame)
            except (images.NotAFitsImage, FrameError) as exc:
                raise ValidationError({"detail": str(exc)}) from exc
        finally:
            frame.path.unlink(missing_ok=True)
        return Response(CalibrationFrameSerializer(calibration).data, status=status.HTTP_201_CREATED)


class CalibrationListView(APIView):
    @extend_schema(responses=inline_serializer("CalibrationList", {"results": CalibrationFrameSerializer(many=True)}))
    def get(self, request, site_id):
        site = get_object_or_404(Site, pk=site_id)
        if not _may_manage(request, site):
            raise PermissionDenied("Only the site itself, its owner or a coordinator may list its masters.")
        frames = CalibrationFrame.objects.filter(site=site)
        return Response({"results": CalibrationFrameSerializer(frames, many=True).data})
