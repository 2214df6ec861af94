"""What every model of params.yaml and project.yaml shares: frozen, no unknown keys."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class Frozen(BaseModel):
    """A config model: immutable, and a key it does not know is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


Share = Annotated[float, Field(gt=0, lt=1)]
"""A share strictly between 0 and 1."""
Ratio = Annotated[float, Field(ge=0, le=1)]
"""A share from 0 to 1 inclusive."""
