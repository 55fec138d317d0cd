"""NVIDIA GPUs through NVML (nvidia-ml-py). pynvml is imported lazily: only the capture needs it.

Per GPU: the cumulative energy counter (mJ, updates every ~70 ms on the H100: the source of
energy), the instantaneous power field, the ~1 s averaged nvmlDeviceGetPowerUsage (kept to show
what the seed's method would see), clocks, temperature, power limit, clock-event reasons.
"""
from __future__ import annotations

from .base import Source, stamp

FI_POWER_INSTANT = 186  # NVML_FI_DEV_POWER_INSTANT, used if the binding lacks the constant
THROTTLE_MASK = 0x4 | 0x8 | 0x40 | 0x80 | 0x100  # sw power cap, hw slowdown, sw/hw thermal, power brake


def readable() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return n > 0
    except Exception:
        return False


class NvmlSource(Source):
    name = "nvml"

    def __init__(self, interval_ms: int, root: str | None = None, indices=None):
        super().__init__(interval_ms)
        import pynvml

        self.nv = pynvml
        pynvml.nvmlInit()
        n = pynvml.nvmlDeviceGetCount()
        self.idx = list(indices) if indices is not None else list(range(n))
        self.h = {f"gpu{i}": pynvml.nvmlDeviceGetHandleByIndex(i) for i in self.idx}
        self.fi = getattr(pynvml, "NVML_FI_DEV_POWER_INSTANT", FI_POWER_INSTANT)

    def _try(self, fn, *a):
        try:
            return fn(*a)
        except Exception:  # NVMLError_NotSupported etc.: recorded as missing, never fatal
            return None

    def meta(self) -> dict:
        nv, out = self.nv, {}
        for k, h in self.h.items():
            out[k] = {"name": self._try(nv.nvmlDeviceGetName, h),
                      "power_limit_mw": self._try(nv.nvmlDeviceGetEnforcedPowerLimit, h),
                      "uuid": self._try(nv.nvmlDeviceGetUUID, h)}
        return {"rails": sorted(self.h), "devices": out, "driver": self._try(nv.nvmlSystemGetDriverVersion),
                "units": {"e_mj": "mJ (cumulative since driver load)", "p_mw": "mW instant",
                          "p_avg_mw": "mW ~1 s average", "clk_mhz": "MHz", "temp_c": "C"}}

    def read(self) -> dict:
        nv, st = self.nv, stamp()
        rec = {**st, "e_mj": {}, "p_mw": {}, "p_avg_mw": {}, "clk_mhz": {}, "temp_c": {}, "throttle": {}}
        for k, h in self.h.items():
            rec["e_mj"][k] = self._try(nv.nvmlDeviceGetTotalEnergyConsumption, h)
            fv = self._try(nv.nvmlDeviceGetFieldValues, h, [self.fi])
            if fv and getattr(fv[0], "nvmlReturn", 1) == 0:
                rec["p_mw"][k] = fv[0].value.uiVal
            rec["p_avg_mw"][k] = self._try(nv.nvmlDeviceGetPowerUsage, h)
            rec["clk_mhz"][k] = self._try(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM)
            rec["temp_c"][k] = self._try(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU)
            rec["throttle"][k] = self._try(nv.nvmlDeviceGetCurrentClocksEventReasons, h) \
                if hasattr(nv, "nvmlDeviceGetCurrentClocksEventReasons") else \
                self._try(nv.nvmlDeviceGetCurrentClocksThrottleReasons, h)
        return rec

    def close(self) -> None:
        try:
            self.nv.nvmlShutdown()
        except Exception:
            pass
