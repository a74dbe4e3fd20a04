"""The scheduler's science core: visibility and ranking over numpy arrays.

Pure: numpy, astropy and ERFA only - never Django - so it is tested and
benchmarked without a database.  The Django layer builds a
:class:`TargetArrays` from the Target table (and keeps it until targets
change), a :class:`SiteParams` from the Site row, a :class:`RankContext` from
a few aggregate queries, and calls :func:`rank` or :func:`plan_network`.
"""

from astropy.utils import iers

# Never reach for the network: the bundled IERS tables and builtin ephemerides suffice.
iers.conf.auto_download = False
iers.conf.auto_max_age = None

from targets.sky.catalog import CAMPAIGN_KINDS, TARGET_TYPES, TargetArrays  # noqa: E402
from targets.sky.horizon import HorizonMask  # noqa: E402
from targets.sky.plan import PlanSettings, assign, plan_network, rank_sites  # noqa: E402
from targets.sky.ranking import (  # noqa: E402
    RankArrays,
    RankContext,
    RankedTarget,
    SiteParams,
    Weights,
    rank,
    rank_arrays,
)

__all__ = [
    "CAMPAIGN_KINDS",
    "TARGET_TYPES",
    "HorizonMask",
    "PlanSettings",
    "RankArrays",
    "RankContext",
    "RankedTarget",
    "SiteParams",
    "TargetArrays",
    "Weights",
    "assign",
    "plan_network",
    "rank",
    "rank_arrays",
    "rank_sites",
]
