"""The web UI: three HTML pages (studies, one study, one comparison) whose scripts read the
JSON API, and the static files they need, all served by the app (no internet needed).

Our scripts are ES modules with no build step (api/static/js/, `<script type="module">`; api.js
builds every API URL); vendored libraries live under api/static/vendor/ with their licenses and
load as classic scripts before the modules.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    # no-cache: a browser revalidates the shell (cheap, ETag) so a new release's page is seen.
    return FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})


@router.get("/")
def studies_page() -> FileResponse:
    return _page("index.html")


@router.get("/studies/{study_id}")
def study_page(study_id: int) -> FileResponse:
    return _page("study.html")


@router.get("/comparisons/{comparison_id}")
def comparison_page(comparison_id: int) -> FileResponse:
    return _page("comparison.html")


def install_ui(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
