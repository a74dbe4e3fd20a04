from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.response import Response

from alerts import services
from alerts.models import Alert
from alerts.serializers import AlertInSerializer, AlertSerializer
from network.permissions import CanSubmitAlerts


class AlertListView(generics.ListCreateAPIView):
    serializer_class = AlertSerializer
    queryset = Alert.objects.all().order_by("-received_at")
    filterset_fields = ["source", "alert_type"]

    def get_permissions(self):
        if self.request.method == "POST":
            return [CanSubmitAlerts()]
        return super().get_permissions()

    @extend_schema(
        request=AlertInSerializer,
        responses={201: inline_serializer("AlertIngested", {"alert": AlertSerializer(),
                                                            "target_id": serializers.UUIDField(allow_null=True),
                                                            "decision": serializers.CharField()})},
    )
    def post(self, request, *args, **kwargs):
        media_type = (request.content_type or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            raise UnsupportedMediaType(media_type, detail=f"Alerts are taken as application/json, not '{media_type}'.")
        serializer = AlertInSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.alert_ingest(data=serializer.validated_data)
        body = {
            "alert": AlertSerializer(result.alert).data,
            "target_id": str(result.target.pk) if result.target else None,
            "decision": result.decision,
        }
        return Response(body, status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)
