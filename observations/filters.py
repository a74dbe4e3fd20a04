import django_filters
from rest_framework.exceptions import ValidationError

from network.fields import parse_aware_datetime
from observations.models import Observation


class AwareDateTimeFilter(django_filters.CharFilter):
    """A time bound that must carry its offset (the API never guesses a time zone)."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        try:
            moment = parse_aware_datetime(value)
        except Exception as exc:
            name = "after" if self.lookup_expr == "gte" else "before"
            raise ValidationError({name: getattr(exc, "detail", [str(exc)])}) from exc
        return qs.filter(**{f"{self.field_name}__{self.lookup_expr}": moment})


class ObservationFilter(django_filters.FilterSet):
    target_id = django_filters.UUIDFilter(field_name="target_id")
    site_id = django_filters.UUIDFilter(field_name="site_id")
    campaign = django_filters.UUIDFilter(field_name="target__campaigns__id")
    after = AwareDateTimeFilter(field_name="observed_at", lookup_expr="gte")
    before = AwareDateTimeFilter(field_name="observed_at", lookup_expr="lt")
    filter = django_filters.CharFilter(field_name="filter", lookup_expr="iexact")
    pipeline_state = django_filters.ChoiceFilter(choices=Observation.PipelineState.choices)

    class Meta:
        model = Observation
        fields = ["target_id", "site_id", "campaign", "after", "before", "filter", "pipeline_state"]
