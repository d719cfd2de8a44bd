"""Settings from `DMFREC_*` environment variables, with embedded defaults."""

from config.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
