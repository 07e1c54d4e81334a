"""The base of every config model: unknown keys are errors, values are frozen and
defaults are validated too."""

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
