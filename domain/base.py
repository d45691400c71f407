"""The base of every value the system passes around: a pydantic model that cannot change once made."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Frozen(BaseModel):
    """An immutable model; a subclass's own `model_config` is merged into this one, so it stays frozen."""

    model_config = ConfigDict(frozen=True)
