from rest_framework import serializers

from campaigns.models import Campaign
from network.fields import AwareDateTimeField, FiniteFloatField
from targets.models import Target


class CampaignSerializer(serializers.ModelSerializer):
    campaign_id = serializers.UUIDField(source="id", read_only=True)
    priority_boost = FiniteFloatField(min_value=0, default=1.0)
    target_ids = serializers.PrimaryKeyRelatedField(
        source="targets", many=True, queryset=Target.objects.all(), required=False
    )
    created_at = AwareDateTimeField(read_only=True)
    updated_at = AwareDateTimeField(read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "campaign_id", "name", "description", "kind", "start_date", "end_date", "priority_boost", "is_active",
            "redundancy", "target_ids", "created_at", "updated_at",
        ]  # fmt: skip

    def validate(self, attrs):
        start = attrs.get("start_date", getattr(self.instance, "start_date", None))
        end = attrs.get("end_date", getattr(self.instance, "end_date", None))
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": ["The campaign ends before it starts."]})
        return attrs


class CampaignTargetProgressSerializer(serializers.Serializer):
    target_id = serializers.UUIDField()
    name = serializers.CharField()
    target_type = serializers.CharField()
    observations = serializers.IntegerField()
    min_observations = serializers.IntegerField(allow_null=True)
    complete = serializers.BooleanField()


class CampaignDetailSerializer(CampaignSerializer):
    targets = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()

    class Meta(CampaignSerializer.Meta):
        fields = [*CampaignSerializer.Meta.fields, "targets", "progress"]

    def _progress(self, campaign):
        if not hasattr(self, "_cached"):
            from campaigns.selectors import campaign_progress

            request = self.context.get("request")
            self._cached = campaign_progress(campaign=campaign, principal=getattr(request, "user", None))
        return self._cached

    def get_targets(self, campaign) -> list[dict]:
        return self._progress(campaign)["targets"]

    def get_progress(self, campaign) -> dict:
        return {k: v for k, v in self._progress(campaign).items() if k != "targets"}
