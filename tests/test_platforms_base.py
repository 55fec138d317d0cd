"""The Platform interface: what a capture relies on is abstract, and each platform orders its modes."""
import pytest

from joulebench.errors import ConfigError
from joulebench.platforms import PLATFORMS, mode_order, platform_class
from joulebench.platforms.base import Platform


def test_a_platform_without_verify_cannot_be_made():
    class NoVerify(Platform):
        name = "half"

        def apply_mode(self, mode, mode_cfg): ...

        def read_state(self):
            return {}

        @property
        def idle_temperature_c(self):
            return None

        @staticmethod
        def mode_order(modes):
            return list(modes)

    with pytest.raises(TypeError, match="verify"):
        NoVerify()


def test_every_registered_platform_implements_the_whole_interface():
    for name in PLATFORMS:
        cls = platform_class(name)
        assert cls.name == name and not getattr(cls, "__abstractmethods__", None), name


def test_unknown_platform_names_the_config_key():
    with pytest.raises(ConfigError, match="config key 'platform'.*'tpu'"):
        platform_class("tpu")


@pytest.mark.parametrize("platform, modes, order", [
    ("jetson", {"15W": {}, "25W": {}, "MAXN_SUPER": {}, "7W": {}, "lab": {}}, ["7W", "15W", "25W", "MAXN_SUPER", "lab"]),
    ("nvidia-gpu", {"default": {}, "pl-250W": {"power_limit_w": 250}, "pl-150W": {"power_limit_w": 150}},
     ["pl-150W", "pl-250W", "default"]),
    ("cpu", {"default": {}, "t4": {"threads": 4}, "t1": {"threads": 1}}, ["t1", "t4", "default"]),
    (None, {"15W": {}, "7W": {}}, ["15W", "7W"]),  # platform unknown: the config's order, no guessing
])
def test_mode_order_comes_from_the_platform(platform, modes, order):
    assert mode_order(platform, modes) == order
