"""joulebench: tokens per second and tokens per joule of small GGUF LLMs on edge devices."""

__version__ = "0.1.0"
