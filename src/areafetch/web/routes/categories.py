"""The category taxonomy: what a person can ask for, by group, with its OSM tags and Google types."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from areafetch.areas.categories import CATEGORIES

router = APIRouter(prefix="/api/categories", tags=["categories"])


class CategoryOut(BaseModel):
    name: str
    label: str
    group: str
    osm_tags: list[str]
    google_types: list[str]


@router.get("", response_model=list[CategoryOut])
async def list_categories() -> list[CategoryOut]:
    """Every category, grouped in the order the picker shows them."""
    return [CategoryOut.model_validate(category.as_json()) for category in CATEGORIES.values()]
