import uuid

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from network.fields import parse_aware_datetime
from network.permissions import ReadHumanWriteCoordinator, acting_site, is_coordinator
from sites.models import Site
from targets import ranking, selectors, services
from targets.filters import TargetCatalogueFilter
from targets.models import Target
from targets.serializers import RankedAnswerSerializer, TargetDetailSerializer, TargetSerializer


def _ranking_params(request) -> dict:
    params = request.query_params
    errors = {}
    count = 10
    if params.get("count") not in (None, ""):
        try:
            count = int(params["count"])
            if not 1 <= count <= 500:
                errors["count"] = ["Must be between 1 and 500."]
        except ValueError:
            errors["count"] = ["A whole number is required."]
    at = None
    if params.get("at"):
        try:
            at = parse_aware_datetime(params["at"])
            if not 1900 <= at.year <= 2100:
                errors["at"] = ["Must be between the years 1900 and 2100."]
        except ValidationError as exc:
            errors["at"] = exc.detail
    priority_min = None
    if params.get("priority_min") not in (None, ""):
        try:
            priority_min = float(params["priority_min"])
        except ValueError:
            errors["priority_min"] = ["A number is required."]
    campaign = params.get("campaign") or None
    if campaign:
        try:
            campaign = uuid.UUID(campaign)
        except ValueError:
            errors["campaign"] = ["Must be a campaign UUID."]
    if errors:
        raise ValidationError(errors)
    return {"count": count, "at": at, "priority_min": priority_min, "campaign_id": campaign}


def _site_for_ranking(request) -> Site | None:
    """The site whose ranked answer is asked for, or None for the plain catalogue."""
    site_id = request.query_params.get("site_id")
    me = acting_site(request)
    if not site_id:
        return me
    try:
        site = Site.objects.filter(pk=uuid.UUID(site_id)).first()
    except ValueError as exc:
        raise ValidationError({"site_id": ["Must be a site UUID."]}) from exc
    if site is None:
        if me is not None or not is_coordinator(request.user):
            # Do not reveal which ids exist to someone who could not read them anyway.
            raise PermissionDenied("You may not ask for that site's targets.")
        raise ValidationError({"site_id": [f"No site with id {site_id}."]})
    if me is not None:
        if me.pk != site.pk:
            raise PermissionDenied("A site key may only ask for its own site's targets.")
    elif not (is_coordinator(request.user) or site.owner_id == request.user.pk):
        raise PermissionDenied("Only the site's owner or a coordinator may ask for its targets.")
    return site


class TargetListView(generics.ListCreateAPIView):
    permission_classes = [ReadHumanWriteCoordinator]
    serializer_class = TargetSerializer
    filterset_class = TargetCatalogueFilter

    def get_queryset(self):
        return selectors.catalogue_queryset()

    @extend_schema(
        parameters=[
            OpenApiParameter("site_id", str, description="Rank for this site (the scheduler's answer)."),
            OpenApiParameter("count", int, description="How many ranked targets (1-500, default 10)."),
            OpenApiParameter("at", str, description="ISO 8601 time with offset (default now)."),
            OpenApiParameter("priority_min", float),
            OpenApiParameter("ra_deg", float), OpenApiParameter("dec_deg", float),
            OpenApiParameter("radius_deg", float),
        ],
        responses={200: TargetSerializer(many=True)},
        description="With a site key or `site_id`: the ranked answer for that site (see RankedAnswer); "
        "otherwise the paginated catalogue.",
    )
    def get(self, request, *args, **kwargs):
        site = _site_for_ranking(request)
        if site is None:
            return self.list(request, *args, **kwargs)
        answer = ranking.site_answer(site=site, **_ranking_params(request))
        return Response(RankedAnswerSerializer(answer).data)

    @extend_schema(request=TargetSerializer, responses={201: TargetSerializer})
    def post(self, request, *args, **kwargs):
        data = request.data
        many = isinstance(data, list)
        items = data if many else [data]
        if many and len(items) > services.MAX_BULK_TARGETS:
            raise ValidationError(
                {"detail": f"At most {services.MAX_BULK_TARGETS} targets per request; got {len(items)}."}
            )
        if many and not items:
            raise ValidationError({"detail": "Empty list: nothing to create."})
        try:
            valid = services.targets_validate(items=items)
        except ValidationError as exc:
            if not many:
                # A single object reports its fields directly, not under index "0".
                raise ValidationError(exc.detail.get("0", exc.detail)) from exc
            raise
        created = services.targets_create(items=valid)
        context = {"just_created": True}
        if many:
            body = TargetSerializer(created, many=True, context=context).data
        else:
            body = TargetSerializer(created[0], context=context).data
        return Response(body, status=status.HTTP_201_CREATED)


class TargetDetailView(APIView):
    permission_classes = [ReadHumanWriteCoordinator]

    def _get(self, target_id) -> Target:
        return get_object_or_404(Target.objects.prefetch_related("campaigns"), pk=target_id)

    @extend_schema(responses=TargetDetailSerializer)
    def get(self, request, target_id):
        return Response(TargetDetailSerializer(self._get(target_id), context={"request": request}).data)

    @extend_schema(request=TargetSerializer, responses=TargetDetailSerializer)
    def patch(self, request, target_id):
        target = self._get(target_id)
        serializer = TargetSerializer(target, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        with transaction.atomic():
            target = services.target_update(target=target, data=serializer.validated_data)
        return Response(TargetDetailSerializer(target, context={"request": request}).data)

    @extend_schema(responses=TargetDetailSerializer)
    def delete(self, request, target_id):
        target = services.target_deactivate(target=self._get(target_id))
        return Response(TargetDetailSerializer(target, context={"request": request}).data)

