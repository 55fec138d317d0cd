"""The interface every platform implements (one module per vendor, registered in __init__.py).

What a capture relies on is abstract, so a new platform cannot silently skip it: putting the
device into a mode, reading back what is in force, verifying the two agree, the idle temperature
the cool-down waits for, and the order of its modes from least to most power (the figures' axis).
"""
from __future__ import annotations

from abc import ABC, abstractmethod


class Platform(ABC):
    name = "base"

    @abstractmethod
    def apply_mode(self, mode: str, mode_cfg: dict) -> None:
        """Put the device into `mode` (privileged steps only as named `sudo -n` commands)."""

    @abstractmethod
    def read_state(self) -> dict:
        """What is in force now (mode id, clocks, power limit, governor...), read back from the device."""

    @abstractmethod
    def verify(self, mode: str, mode_cfg: dict, state: dict) -> None:
        """Raise CaptureError if `state` is not `mode`: a cell is never captured mislabelled."""

    @property
    @abstractmethod
    def idle_temperature_c(self) -> float | None:
        """The temperature this mode settles at when idle (the cool-down's target), None if unknown."""

    @staticmethod
    @abstractmethod
    def mode_order(modes: dict[str, dict]) -> list[str]:
        """The configured modes (name -> settings) from least to most power; no device needed
        (figures are drawn anywhere). Modes it cannot place keep the config's order, last."""

    def temperature_c(self) -> float | None:
        """Hottest temperature for thermal cool-down, None if unknown."""
        return None

    def memory_hygiene(self) -> None:
        """Between models (optional)."""

    def provenance(self) -> dict:
        return {"platform": self.name}


def order_by(modes: dict[str, dict], key) -> list[str]:
    """Mode names sorted by key(name, settings) -> number or None; None last, config order kept."""
    placed = [(k, i, m) for i, (m, s) in enumerate(modes.items()) if (k := key(m, s)) is not None]
    unplaced = [m for m, s in modes.items() if key(m, s) is None]
    return [m for _, _, m in sorted(placed)] + unplaced
