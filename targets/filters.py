import django_filters
import numpy as np
from rest_framework.exceptions import ValidationError

from network.filters import StrictBooleanFilter
from targets.models import Target


class TargetCatalogueFilter(django_filters.FilterSet):
    """Catalogue filters: type, active, campaign, name-or-alias, and a cone (`ra_deg`, `dec_deg`, `radius_deg`)."""

    target_type = django_filters.ChoiceFilter(choices=Target.Type.choices)
    active = StrictBooleanFilter()
    campaign = django_filters.UUIDFilter(field_name="campaigns__id")
    name = django_filters.CharFilter(method="filter_name")
    priority_min = django_filters.NumberFilter(field_name="priority", lookup_expr="gte")

    class Meta:
        model = Target
        fields = ["target_type", "active", "campaign", "name", "priority_min"]

    def filter_name(self, queryset, name, value):
        return queryset.named(value)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        return cone_filter(queryset, self.data)


def _cone_params(params) -> tuple[float, float, float] | None:
    keys = ("ra_deg", "dec_deg", "radius_deg")
    present = [k for k in keys if params.get(k) not in (None, "")]
    if not present:
        return None
    errors = {k: ["Required for a cone search."] for k in keys if k not in present}
    values = {}
    for k in present:
        try:
            values[k] = float(params[k])
        except ValueError:
            errors[k] = ["A number is required."]
    if "ra_deg" in values and not 0 <= values["ra_deg"] < 360:
        errors["ra_deg"] = ["Must be 0 <= ra_deg < 360."]
    if "dec_deg" in values and not -90 <= values["dec_deg"] <= 90:
        errors["dec_deg"] = ["Must be -90 <= dec_deg <= 90."]
    if "radius_deg" in values and not 0 < values["radius_deg"] <= 180:
        errors["radius_deg"] = ["Must be 0 < radius_deg <= 180."]
    if errors:
        raise ValidationError(errors)
    return values["ra_deg"], values["dec_deg"], values["radius_deg"]


def cone_filter(queryset, params):
    """Prefilter on a declination band in SQL (indexable everywhere), then exact great-circle distance."""
    cone = _cone_params(params)
    if cone is None:
        return queryset
    ra0, dec0, radius = cone
    band = queryset.filter(dec_deg__gte=dec0 - radius, dec_deg__lte=dec0 + radius)
    rows = list(band.values_list("id", "ra_deg", "dec_deg"))
    if not rows:
        return queryset.none()
    ids = [r[0] for r in rows]
    ra = np.radians([r[1] for r in rows])
    dec = np.radians([r[2] for r in rows])
    ra0r, dec0r = np.radians(ra0), np.radians(dec0)
    cos_sep = np.sin(dec) * np.sin(dec0r) + np.cos(dec) * np.cos(dec0r) * np.cos(ra - ra0r)
    inside = cos_sep >= np.cos(np.radians(radius))
    return queryset.filter(id__in=[i for i, ok in zip(ids, inside, strict=True) if ok])
