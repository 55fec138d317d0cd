"""The interface every platform implements."""
from __future__ import annotations


class Platform:
    name = "base"

    def apply_mode(self, mode: str, mode_cfg: dict) -> None:
        """Put the device into `mode` (privileged steps only as named `sudo -n` commands)."""

    def read_state(self) -> dict:
        """What is in force now (mode id, clocks, power limit, governor...), read back from the device."""
        return {}

    def verify(self, mode: str, mode_cfg: dict, state: dict) -> None:
        """Raise CaptureError if `state` is not `mode`: a cell is never captured mislabelled."""

    def temperature_c(self) -> float | None:
        """Hottest temperature for thermal cool-down, None if unknown."""
        return None

    def memory_hygiene(self) -> None:
        """Between models (optional)."""

    def provenance(self) -> dict:
        return {"platform": self.name}
