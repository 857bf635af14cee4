"""``python -m examples.tasks``: serve the tasks API on ``HOST``:``PORT`` with uvicorn."""

from __future__ import annotations

import uvicorn

from .app import build_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env()
    print(f"tasks API: http://{settings.host}:{settings.port}/tasks", flush=True)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.port, log_level="info")


if __name__ == "__main__":
    main()
