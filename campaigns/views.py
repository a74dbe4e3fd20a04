from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns import services
from campaigns.models import Campaign
from campaigns.serializers import CampaignDetailSerializer, CampaignSerializer
from network.permissions import ReadHumanWriteCoordinator


class CampaignListView(generics.ListCreateAPIView):
    permission_classes = [ReadHumanWriteCoordinator]
    serializer_class = CampaignSerializer
    queryset = Campaign.objects.prefetch_related("targets").order_by("-created_at")
    filterset_fields = ["kind", "is_active"]

    def create(self, request, *args, **kwargs):
        serializer = CampaignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_save(campaign=None, data=dict(serializer.validated_data), user=request.user)
        body = CampaignDetailSerializer(campaign, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)


class CampaignDetailView(APIView):
    permission_classes = [ReadHumanWriteCoordinator]

    @extend_schema(responses=CampaignDetailSerializer)
    def get(self, request, campaign_id):
        campaign = get_object_or_404(Campaign.objects.prefetch_related("targets"), pk=campaign_id)
        return Response(CampaignDetailSerializer(campaign, context={"request": request}).data)

    @extend_schema(request=CampaignSerializer, responses=CampaignDetailSerializer)
    def patch(self, request, campaign_id):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        serializer = CampaignSerializer(campaign, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_save(campaign=campaign, data=dict(serializer.validated_data))
        return Response(CampaignDetailSerializer(campaign, context={"request": request}).data)


class CampaignArchiveView(APIView):
    """Every target's light curve of a campaign in one zip (CSV and AAVSO), embargoes applied."""

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request, campaign_id):
        from observations import lightcurves
        from observations.views import visible_observations

        campaign = get_object_or_404(Campaign, pk=campaign_id)
        visible = visible_observations(request)
        contents = [
            (target, lightcurves.lightcurve(visible.filter(target=target))[0])
            for target in campaign.targets.order_by("name")
        ]
        return lightcurves.campaign_archive(campaign, contents)
