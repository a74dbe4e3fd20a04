import time
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from campaigns.models import Campaign
from observations.models import Observation
from sites.models import Site
from targets.models import Target

STARTED_AT = time.monotonic()


class StatusView(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        responses=inline_serializer(
            "NetworkStatus",
            {name: serializers.IntegerField() for name in (
                "active_sites", "sites_online", "total_observations", "observations_24h", "active_targets",
                "active_campaigns", "uptime_s")} | {"version": serializers.CharField()},
        )
    )
    def get(self, request):
        now = timezone.now()
        return Response(
            {
                "active_sites": Site.objects.usable().count(),
                "sites_online": Site.objects.online(now=now).count(),
                "total_observations": Observation.objects.count(),
                "observations_24h": Observation.objects.filter(created_at__gte=now - timedelta(hours=24)).count(),
                "active_targets": Target.objects.active(now=now).count(),
                "active_campaigns": Campaign.objects.active(today=now.date()).count(),
                "version": settings.NETWORK_VERSION,
                "uptime_s": int(time.monotonic() - STARTED_AT),
            }
        )


class TokenCredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(trim_whitespace=False)


class LoginRateThrottle(AnonRateThrottle):
    scope = "login"
    rate = "30/min"


class TokenView(APIView):
    """Exchange a username and password for a personal token (`Authorization: Token <token>`)."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = [LoginRateThrottle]

    @extend_schema(
        request=TokenCredentialsSerializer, responses=inline_serializer("Token", {"token": serializers.CharField()})
    )
    def post(self, request):
        serializer = TokenCredentialsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(request, **serializer.validated_data)
        if user is None or not user.is_active:
            raise ValidationError({"detail": "Wrong username or password."})
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
