import django_filters
from django.conf import settings
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from network.filters import StrictBooleanFilter
from network.permissions import IsHuman, IsSiteAgent, acting_site, is_coordinator
from sites import services
from sites.models import Site
from sites.serializers import (
    HeartbeatResponseSerializer,
    HeartbeatSerializer,
    SitePublicSerializer,
    SiteSerializer,
    SiteWriteSerializer,
)


class SiteFilter(django_filters.FilterSet):
    is_active = StrictBooleanFilter()
    approved = StrictBooleanFilter()

    class Meta:
        model = Site
        fields = ["is_active", "approved", "automation_level"]


def can_manage(request, site: Site) -> bool:
    """Owner or coordinator (people only)."""
    user = request.user
    if acting_site(request) is not None:
        return False
    return is_coordinator(user) or site.owner_id == user.pk


def can_see_everything(request, site: Site) -> bool:
    me = acting_site(request)
    return (me is not None and me.pk == site.pk) or (me is None and can_manage(request, site))


def serialize_site(request, site: Site) -> dict:
    serializer = SiteSerializer if can_see_everything(request, site) else SitePublicSerializer
    return serializer(site, context={"request": request}).data


class SiteListCreateView(generics.ListCreateAPIView):
    queryset = Site.objects.select_related("owner").order_by("-created_at")
    serializer_class = SitePublicSerializer
    filterset_class = SiteFilter

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsHuman()]
        return super().get_permissions()

    def get_serializer_class(self):
        if self.request.method == "POST":
            return SiteWriteSerializer
        if acting_site(self.request) is None and is_coordinator(self.request.user):
            return SiteSerializer
        return SitePublicSerializer

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response([serialize_site(request, s) for s in page])

    @extend_schema(
        request=SiteWriteSerializer,
        responses={201: inline_serializer("SiteCreated", {"site_id": serializers.UUIDField(),
                                                          "api_key": serializers.CharField()})},
    )
    def create(self, request, *args, **kwargs):
        serializer = SiteWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        site, key = services.site_register(owner=request.user, data=serializer.validated_data)
        body = SiteSerializer(site, context={"request": request}).data
        body["api_key"] = key
        return Response(body, status=status.HTTP_201_CREATED)


class SiteDetailView(APIView):
    @extend_schema(responses=SiteSerializer)
    def get(self, request, site_id):
        site = get_object_or_404(Site.objects.select_related("owner"), pk=site_id)
        return Response(serialize_site(request, site))

    @extend_schema(request=SiteWriteSerializer, responses=SiteSerializer)
    def patch(self, request, site_id):
        site = get_object_or_404(Site, pk=site_id)
        me = acting_site(request)
        if not ((me is not None and me.pk == site.pk) or can_manage(request, site)):
            raise PermissionDenied("Only the site's owner, a coordinator or the site's own key may change it.")
        serializer = SiteWriteSerializer(site, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        site = services.site_update(site=site, data=serializer.validated_data)
        return Response(SiteSerializer(site, context={"request": request}).data)


class SiteRotateKeyView(APIView):
    permission_classes = [IsHuman]

    @extend_schema(request=None, responses=inline_serializer("SiteKey", {"api_key": serializers.CharField()}))
    def post(self, request, site_id):
        site = get_object_or_404(Site, pk=site_id)
        if not can_manage(request, site):
            raise PermissionDenied("Only the site's owner or a coordinator may rotate its key.")
        return Response({"api_key": services.site_rotate_key(site=site)})


class SiteHeartbeatView(APIView):
    permission_classes = [IsSiteAgent]

    @extend_schema(request=HeartbeatSerializer, responses=HeartbeatResponseSerializer)
    def put(self, request, site_id):
        site = get_object_or_404(Site, pk=site_id)
        if acting_site(request).pk != site.pk:
            raise PermissionDenied("A site key may only report for its own site.")
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.site_heartbeat(site=site, data=serializer.validated_data)
        body = {"server_time": timezone.now(), "next_poll_s": settings.SITE_NEXT_POLL_S}
        return Response(HeartbeatResponseSerializer(body).data)
