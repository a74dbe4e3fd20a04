"""Hardware drivers behind one interface (drivers.base.Driver)."""

from __future__ import annotations

from obsclient.config import Config
from obsclient.drivers.base import Conditions, Driver, DriverError, Frame

__all__ = ["Conditions", "Driver", "DriverError", "Frame", "make_driver"]


def make_driver(config: Config) -> Driver:
    """The configured driver, not yet connected. Hardware libraries are imported only when chosen."""
    kind = config.driver.kind
    if kind == "simulator":
        from obsclient.drivers.simulator import SimulatorDriver

        return SimulatorDriver(
            config.driver.simulator,
            focal_length_mm=config.site.focal_length_mm,
            aperture_mm=config.site.aperture_mm,
            filters=config.site.filters,
        )
    if kind == "alpaca":
        from obsclient.drivers.alpaca import AlpacaDriver

        return AlpacaDriver(config.driver.alpaca, site=config.site)
    if kind == "indi":
        from obsclient.drivers.indi import IndiDriver

        return IndiDriver(config.driver.indi)
    raise DriverError(f"unknown driver kind {kind!r}")
