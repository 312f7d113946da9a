"""The baseline for bench/http_load.py: a bare FastAPI hello-world app, served by uvicorn with the
same settings ``hushdesk serve`` uses (one process, no access log, no server header, no logging
config, uvloop and httptools when installed).

Usage: python bench/bare_app.py --port PORT
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI


def create_bare_app() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args()
    config = uvicorn.Config(
        create_bare_app(),
        host="127.0.0.1",
        port=arguments.port,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
