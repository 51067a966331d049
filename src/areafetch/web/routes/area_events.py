"""An area's progress pushed as Server-Sent Events until it completes or fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from areafetch.db.engine import connection
from areafetch.web.deps import EngineDep, ReadAccessDep
from areafetch.web.routes.areas import AreaId, AreaProgress, AreaPublic, read_area

router = APIRouter(prefix="/api/areas", tags=["areas"])

POLL_INTERVAL_S = 0.5
_FINISHED = frozenset({"completed", "failed"})


class AreaProgressEvent(BaseModel):
    """The `data` of a `progress` event."""

    state: str
    progress: AreaProgress
    failed_reason: str | None


async def _existing_area(area_id: AreaId, engine: EngineDep) -> AreaPublic:
    # A dependency, so an unknown id is a 404 before the stream starts.
    async with connection(engine) as conn:
        return await read_area(conn, area_id)


_EVENTS_DOC = {
    "responses": {
        "200": {
            "description": (
                "`event: progress` with an AreaProgressEvent whenever state, progress or failure reason "
                "change; then one `event: done` with the AreaPublic once the area is completed or failed; "
                "then the stream ends."
            ),
            "content": {
                "text/event-stream": {
                    "itemSchema": {
                        "type": "object",
                        "required": ["event", "data"],
                        "properties": {
                            "event": {"type": "string", "enum": ["progress", "done"]},
                            "data": {
                                "type": "string",
                                "contentMediaType": "application/json",
                                "contentSchema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/AreaProgressEvent"},
                                        {"$ref": "#/components/schemas/AreaPublic"},
                                    ]
                                },
                            },
                        },
                    }
                }
            },
        },
        "404": {"description": "no such area"},
    }
}


@router.get(
    "/{area_id}/events",
    response_class=EventSourceResponse,
    openapi_extra=_EVENTS_DOC,
    responses={200: {"model": AreaProgressEvent}},  # puts AreaProgressEvent in the components
)
async def area_events(
    area: Annotated[AreaPublic, Depends(_existing_area)], engine: EngineDep, _access: ReadAccessDep
) -> AsyncIterator[ServerSentEvent]:
    """Progress events while the area runs, then `done` with the area; stops when the client leaves."""
    last: AreaProgressEvent | None = None
    while True:
        current = AreaProgressEvent(
            state=area.state, progress=area.progress, failed_reason=area.failed_reason
        )
        if current != last:
            yield ServerSentEvent(event="progress", data=current)
            last = current
        if area.state in _FINISHED:
            yield ServerSentEvent(event="done", data=area)
            return
        # The response is cancelled on disconnect, which ends this loop at the sleep.
        await asyncio.sleep(POLL_INTERVAL_S)
        async with connection(engine) as conn:
            area = await read_area(conn, area.id)
