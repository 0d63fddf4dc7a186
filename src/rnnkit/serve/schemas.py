"""Request bodies of the serve API (pydantic models: FastAPI validates them and answers 422 otherwise)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class GenerateRequest(BaseModel):
    prompt: str = Field("", description="Text to continue.")
    length: int = Field(200, ge=1, description="Tokens to generate (the server caps it: /info limits).")
    temperature: float = Field(1.0, ge=0.0, le=10.0, description="0 = greedy.")
    top_k: int | None = Field(None, ge=1, description="Sample among the k most likely tokens.")
    top_p: float | None = Field(None, gt=0.0, le=1.0, description="Nucleus sampling.")
    seed: int | None = Field(None, description="Seed for reproducible sampling.")
    greedy: bool = False


class ClassifyRequest(BaseModel):
    inputs: list[str] = Field(..., min_length=1, description="Texts, or series as comma-separated numbers.")


class ForecastRequest(BaseModel):
    horizon: int | None = Field(None, ge=1, description="Steps ahead (default: the trained horizon).")
    holdout: bool = Field(False, description="Forecast the held-out tail instead, with the actual values.")
    history: int = Field(200, ge=1, le=100_000, description="How many past steps to return for the chart.")


class TranslateRequest(BaseModel):
    texts: list[str] = Field(..., min_length=1)
    beam: int | None = Field(None, ge=1, le=16)
