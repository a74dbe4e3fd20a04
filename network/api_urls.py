from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from alerts.views import AlertListView
from campaigns.views import CampaignArchiveView, CampaignDetailView, CampaignListView
from network.views import StatusView, TokenView
from observations.views import (
    LightcurveView,
    ObservationDetailView,
    ObservationImageView,
    ObservationListView,
    ObservationPreviewView,
)
from pipeline.views import CalibrationListView, CalibrationUploadView
from sites.views import SiteDetailView, SiteHeartbeatView, SiteListCreateView, SiteRotateKeyView
from targets.views import TargetDetailView, TargetListView

urlpatterns = [
    path("status", StatusView.as_view(), name="status"),
    path("auth/token", TokenView.as_view(), name="auth-token"),
    path("sites", SiteListCreateView.as_view(), name="site-list"),
    path("sites/<uuid:site_id>", SiteDetailView.as_view(), name="site-detail"),
    path("sites/<uuid:site_id>/rotate-key", SiteRotateKeyView.as_view(), name="site-rotate-key"),
    path("sites/<uuid:site_id>/heartbeat", SiteHeartbeatView.as_view(), name="site-heartbeat"),
    path("sites/<uuid:site_id>/calibration", CalibrationListView.as_view(), name="calibration-list"),
    path("sites/<uuid:site_id>/calibration/<str:kind>", CalibrationUploadView.as_view(), name="calibration-upload"),
    path("targets", TargetListView.as_view(), name="target-list"),
    path("targets/<uuid:target_id>", TargetDetailView.as_view(), name="target-detail"),
    path("campaigns", CampaignListView.as_view(), name="campaign-list"),
    path("campaigns/<uuid:campaign_id>", CampaignDetailView.as_view(), name="campaign-detail"),
    path("campaigns/<uuid:campaign_id>/archive", CampaignArchiveView.as_view(), name="campaign-archive"),
    path("observations", ObservationListView.as_view(), name="observation-list"),
    path("observations/<uuid:observation_id>", ObservationDetailView.as_view(), name="observation-detail"),
    path("observations/<uuid:observation_id>/image", ObservationImageView.as_view(), name="observation-image"),
    path("observations/<uuid:observation_id>/preview", ObservationPreviewView.as_view(), name="observation-preview"),
    path("lightcurve/<uuid:target_id>", LightcurveView.as_view(), name="lightcurve"),
    path("alerts", AlertListView.as_view(), name="alert-list"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
]
