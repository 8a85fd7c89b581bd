"""`GET /artifacts/{sha256}`: a blob of the store, only by a hash the catalog records (a client
never names a path), with its media type, its length, the hash as ETag, and HTTP ranges (an
`<audio>` element seeks with them). A blob never changes under its name, so a client may keep
it for good and ask again with If-None-Match."""

from __future__ import annotations

from collections.abc import Mapping

from starlette.responses import FileResponse, Response

from jobs.api.errors import NotFound
from jobs.config import FarmSettings
from jobs.home import open_reader, open_store
from storage.errors import StoreCorrupt


def artifact_response(settings: FarmSettings, sha256: str, headers: Mapping[str, str]) -> Response:
    known = open_reader(settings).artifact_by_sha(sha256)
    if not known:
        raise NotFound(f"no artifact with sha256 {sha256[:16]}… in the catalog")
    etag = f'"{sha256}"'
    cache = {"etag": etag, "cache-control": "private, max-age=31536000, immutable"}
    if etag in [tag.strip() for tag in headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=cache)
    path = open_store(settings).path_for(sha256)
    if not path.is_file():
        raise StoreCorrupt(f"blob {sha256[:16]}… is missing from the store; "
                           "`farm catalog verify` lists what else is")
    return FileResponse(path, media_type=known[0].media_type, headers=cache,
                        filename=known[0].name, content_disposition_type="inline")
