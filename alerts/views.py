"""`/api/v1/alerts`: feeds post alerts (the normalised JSON form or a native message by content type); people read."""

import json

import django_filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, PolymorphicProxySerializer, extend_schema
from rest_framework import generics, parsers, status
from rest_framework.exceptions import UnsupportedMediaType, ValidationError
from rest_framework.response import Response

from alerts import formats, services
from alerts.models import Alert
from alerts.serializers import (
    AlertBatchIngestedSerializer,
    AlertIngestedSerializer,
    AlertInSerializer,
    AlertSerializer,
)
from network.fields import parse_aware_datetime
from network.pagination import CursorPagination
from network.permissions import CanSubmitAlerts, IsHuman

NATIVE_MEDIA_TYPES = {
    "application/xml": "a VOEvent 1.1 or 2.0 packet (also text/xml, application/voevent+xml)",
    "application/json": "the normalised form, a GCN Kafka notice, an IGWN alert, a Fink/ALeRCE/Lasair or TNS reply",
    "avro/binary": "an Avro container file: ZTF or Rubin alert packets, an IGWN alert",
    "application/octet-stream": "an Avro container file or a 160-byte GCN Classic binary notice",
    "text/csv": "Gaia alerts.csv, a TNS CSV export or an ALeRCE detections export",
}


class RawBodyParser(parsers.BaseParser):
    """Hands the body through as bytes: the alert parsers (alerts.formats) choose by content type themselves.

    It accepts any media type so that an unsupported one is answered by `alerts.formats` (415 naming the types
    we take) rather than by DRF's generic message.
    """

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None) -> bytes:
        return stream.read() if stream is not None else b""


class AlertPagination(CursorPagination):
    ordering = "-received_at"


class AlertFilter(django_filters.FilterSet):
    source = django_filters.CharFilter(lookup_expr="iexact")
    alert_type = django_filters.CharFilter(lookup_expr="iexact")
    action = django_filters.ChoiceFilter(choices=[(a, a) for a in services.engine.ACTIONS])
    role = django_filters.ChoiceFilter(choices=Alert.Role.choices)
    target = django_filters.UUIDFilter(field_name="target_id")
    has_target = django_filters.BooleanFilter(field_name="target", lookup_expr="isnull", exclude=True)
    is_retraction = django_filters.BooleanFilter()
    received_after = django_filters.CharFilter(method="filter_time", field_name="received_at__gte")
    received_before = django_filters.CharFilter(method="filter_time", field_name="received_at__lt")
    event_after = django_filters.CharFilter(method="filter_time", field_name="event_time__gte")
    event_before = django_filters.CharFilter(method="filter_time", field_name="event_time__lt")

    class Meta:
        model = Alert
        fields = ["source", "alert_type", "action", "role", "target", "has_target", "is_retraction"]

    def filter_time(self, queryset, name, value):
        try:
            when = parse_aware_datetime(value)
        except ValidationError as exc:
            param = {"received_at__gte": "received_after", "received_at__lt": "received_before",
                     "event_time__gte": "event_after", "event_time__lt": "event_before"}[name]  # fmt: skip
            raise ValidationError({param: exc.detail}) from exc
        return queryset.filter(**{name: when})


def _ingested(result: services.IngestResult) -> dict:
    return {
        "alert": AlertSerializer(result.alert).data,
        "target_id": str(result.target.pk) if result.target is not None else None,
        "decision": result.decision,
        "created": result.created,
    }


_ANSWER = PolymorphicProxySerializer(
    component_name="AlertIngestAnswer",
    serializers=[AlertIngestedSerializer, AlertBatchIngestedSerializer],
    resource_type_field_name=None,
)


class AlertListView(generics.ListCreateAPIView):
    serializer_class = AlertSerializer
    queryset = Alert.objects.all()
    filterset_class = AlertFilter
    pagination_class = AlertPagination
    parser_classes = [RawBodyParser]

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanSubmitAlerts()]
        return [IsHuman()]

    @extend_schema(
        description="Alerts as received, newest first, with what the rules decided. Filters: source, alert_type, "
        "action (create_target, update_target, merge_into_existing, ignore, deactivate), role, target, has_target, "
        "is_retraction, received_after/received_before, event_after/event_before (ISO 8601 with offset).",
    )
    def get(self, request, *args, **kwargs):
        return self.list(request, *args, **kwargs)

    @extend_schema(
        request={
            "application/json": AlertInSerializer,
            "application/xml": OpenApiTypes.BINARY,
            "avro/binary": OpenApiTypes.BINARY,
            "application/octet-stream": OpenApiTypes.BINARY,
            "text/csv": OpenApiTypes.BINARY,
        },
        responses={201: _ANSWER, 200: _ANSWER},
        description="Post one alert: the normalised JSON form, or a native message recognised by its content type ("
        + "; ".join(f"`{k}`: {v}" for k, v in NATIVE_MEDIA_TYPES.items())
        + "). 201 when the alert (its `(source, external_id)` series) is new, 200 when it updated one. A message "
        "holding several alerts (CSV, Avro files with many records) is answered with "
        '`{"alerts": [{"alert", "target_id", "decision", "created"}, ...], "created": n, "updated": m}` '
        "(201 when any is new). 400 for a malformed body or XML that is not a VOEvent; 415 for other media types.",
        examples=[
            OpenApiExample(
                "Normalised form",
                request_only=True,
                media_type="application/json",
                value={
                    "source": "TNS",
                    "external_id": "2026abc",
                    "ra_deg": 150.1,
                    "dec_deg": -2.3,
                    "alert_type": "SN candidate",
                    "magnitude": 17.2,
                    "event_time": "2026-11-20T03:00:00Z",
                },
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        body = request.data if isinstance(request.data, bytes) else b""
        content_type = request.content_type or ""
        media_type = formats.media_type(content_type)
        if media_type in formats.JSON_TYPES or media_type.endswith("+json"):
            parsed = self._parse_json(body, content_type)
        else:
            parsed = _parse_native(body, content_type)
        if not parsed:
            raise ValidationError({"detail": "The message holds no alert.", "body": ["no alert in the message"]})
        try:
            if len(parsed) == 1:
                result = services.alert_ingest(parsed=parsed[0])
                code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
                return Response(_ingested(result), status=code)
            batch = services.alerts_ingest_many(parsed)
        except formats.AlertFormatError as exc:
            raise ValidationError({"detail": f"Not an acceptable alert: {exc}", "body": [str(exc)]}) from exc
        body = {
            "alerts": [_ingested(r) for r in batch.results],
            "created": batch.created,
            "updated": batch.updated,
        }
        return Response(body, status=status.HTTP_201_CREATED if batch.created else status.HTTP_200_OK)

    def _parse_json(self, body: bytes, content_type: str) -> list:
        try:
            obj = json.loads(body.decode("utf-8-sig")) if body.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            obj = None  # alerts.formats names the fault precisely
        if isinstance(obj, dict) and ("source" in obj or "external_id" in obj):
            # The normalised form: validated field by field so every bad field is named.
            serializer = AlertInSerializer(data=obj)
            serializer.is_valid(raise_exception=True)
            return [services.parsed_from_data(serializer.validated_data)]
        return _parse_native(body, content_type)


def _parse_native(body: bytes, content_type: str) -> list:
    try:
        return formats.parse(body, content_type)
    except formats.UnsupportedMediaType as exc:
        raise UnsupportedMediaType(formats.media_type(content_type) or "(none)", detail=str(exc)) from exc
    except formats.AlertFormatError as exc:
        raise ValidationError({"detail": f"Not a readable alert: {exc}.", "body": [str(exc)]}) from exc
