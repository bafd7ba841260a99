"""Product images by key, from the images bucket; any other key (the lake, backups, made up) is a 404."""

from __future__ import annotations

from fastapi import APIRouter, Response

from lakefront.api.deps import Ctx
from lakefront.api.openapi import responses
from lakefront.api.schemas import ObjectKey
from lakefront.shop import catalog

router = APIRouter(prefix="/api", tags=["media"])


@router.get("/media/{key:path}", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, **responses(404)})
def media(ctx: Ctx, key: ObjectKey) -> Response:
    """The bytes of a stored image; keys are generated and never reused, so they cache forever."""
    data, content_type = catalog.media(ctx, key)
    return Response(data, media_type=content_type,
                    headers={"Cache-Control": "public, max-age=31536000, immutable"})
