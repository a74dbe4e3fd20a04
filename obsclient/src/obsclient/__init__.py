"""obsclient: the agent that runs at every telescope of the network."""

__version__ = "0.1.0"


def _keep_astropy_offline() -> None:
    # The agent must work on a site with no internet but the server: astropy would otherwise try to
    # download IERS tables for precise Earth orientation. The bundled tables are ample for pointing.
    from astropy.utils import iers

    iers.conf.auto_download = False
    iers.conf.auto_max_age = None


_keep_astropy_offline()
