from django.db import transaction

from campaigns.models import Campaign, CampaignTarget


@transaction.atomic
def campaign_save(*, campaign: Campaign | None, data: dict, user=None) -> Campaign:
    targets = data.pop("targets", None)
    if campaign is None:
        campaign = Campaign(created_by=user if getattr(user, "pk", None) else None)
    for name, value in data.items():
        setattr(campaign, name, value)
    campaign.save()
    if targets is not None:
        campaign.targets.set(targets)
    return campaign


def campaign_add_targets(*, campaign: Campaign, targets) -> int:
    existing = set(campaign.memberships.values_list("target_id", flat=True))
    new = [CampaignTarget(campaign=campaign, target=t) for t in targets if t.pk not in existing]
    CampaignTarget.objects.bulk_create(new)
    return len(new)
