"""Keep astropy offline: the server, workers, agent and tests never reach the internet for IERS tables.

Without this astropy raises (or tries to download) because its bundled Earth-rotation table is older than
`auto_max_age`; the bundled table is accurate enough for scheduling and photometric timing.
"""

from astropy.utils import iers


def configure_astropy_offline() -> None:
    iers.conf.auto_download = False
    iers.conf.auto_max_age = None
