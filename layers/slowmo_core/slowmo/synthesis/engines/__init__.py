"""Interpolation engines by name. Engines with heavy dependencies are imported only when asked for."""

from __future__ import annotations

from slowmo.errors import InputError
from slowmo.synthesis.engines.base import Engine

ENGINE_NAMES = ("flow", "blend", "film")
DEFAULT_ENGINE = "flow"


def create_engine(name: str, **options) -> Engine:
    """Build the engine called name. Options are engine-specific (e.g. film: model_path)."""
    if name == "blend":
        from slowmo.synthesis.engines.blend import BlendEngine

        return BlendEngine(**options)
    if name == "flow":
        from slowmo.synthesis.engines.flow import FlowEngine

        return FlowEngine(**options)
    if name == "film":
        from slowmo.synthesis.engines.film import FilmEngine

        return FilmEngine(**options)
    raise InputError(f"unknown engine {name!r}: choose one of {', '.join(ENGINE_NAMES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINE_NAMES", "Engine", "create_engine"]
