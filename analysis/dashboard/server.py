"""The dashboard's web app and server: trackio's dashboard at ``/`` and the live Pareto page at ``/pareto``,
on one local port. trackio's app is the one ``trackio show`` serves (trackio.server, its bundled
frontend), mounted under ours; its data folder is the runs root's ``.trackio`` (workbench/logger.py)."""
from __future__ import annotations

import contextlib
import io
import shutil
import socket
import tempfile
import threading
from pathlib import Path

from analysis.dashboard.live import LiveSnapshot
from workbench.logger import TRACKIO_DIR_NAME, TRACKIO_MARKER, import_trackio, trackio_data_problem

STATIC = Path(__file__).parent / "static"
DEFAULT_PORT = 7870   # not trackio's and gradio's 7860, so both can run side by side


class PortInUse(OSError):
    """The dashboard's port is taken; the message says what to pass instead."""


def find_trackio_dir(runs: str | Path) -> Path | None:
    """The workbench's trackio folder for ``runs``: ``<folder>/.trackio`` (with its marker) in ``runs`` or
    the nearest folder above it (a sweep folder's runs log to the runs root's); None when there is none."""
    here = Path(runs).resolve()
    for folder in (here, *here.parents):
        if (folder / TRACKIO_DIR_NAME / TRACKIO_MARKER).is_file():
            return folder / TRACKIO_DIR_NAME
    return None


def trackio_projects(folder: Path | None) -> list[str]:
    """The trackio projects (one SQLite file each) in ``folder``."""
    return sorted(p.stem for p in folder.glob("*.db")) if folder is not None else []


def build_app(runs: str | Path, trackio_folder: Path):
    """The Starlette app: /pareto (page), /pareto/data.json (LiveSnapshot), /pareto/static, and trackio's
    app at / reading ``trackio_folder`` (set as TRACKIO_DIR before trackio is imported)."""
    import_trackio(trackio_folder)
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, JSONResponse, RedirectResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles
    from trackio.frontend_config import BUNDLED_FRONTEND_DIR
    from trackio.server import build_starlette_app_only

    with contextlib.redirect_stdout(io.StringIO()):  # its start-up notes name trackio's own commands
        trackio_app, _write_token = build_starlette_app_only(frontend_dir=str(BUNDLED_FRONTEND_DIR))
    live, lock = LiveSnapshot(runs), threading.Lock()

    def data(request):  # sync: Starlette runs it in a worker thread (it reads the disk)
        with lock:
            return JSONResponse(live.get(), headers={"Cache-Control": "no-store"})

    return Starlette(routes=[
        Route("/pareto", lambda request: FileResponse(STATIC / "pareto.html")),
        Route("/pareto/", lambda request: RedirectResponse("/pareto")),
        Route("/pareto/data.json", data),
        Mount("/pareto/static", StaticFiles(directory=STATIC)),
        Mount("/", app=trackio_app),
    ])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); port 0 picks a free one. PortInUse when it is taken."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno in (98, 48):  # EADDRINUSE (Linux, macOS)
            raise PortInUse(f"port {port} on {host} is in use (another dashboard or trackio show?): pass another "
                            "--port (make dashboard PORT=...), or --port 0 for a free one") from None
        raise
    sock.listen(128)
    return sock


def serve(runs: str | Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT, announce=None) -> None:
    """Serve the dashboard of ``runs`` until Ctrl-C. Without a trackio folder for ``runs`` trackio's side
    reads an empty temporary folder (removed afterwards), so nothing is written into the runs."""
    import uvicorn

    announce = announce or (lambda line: print(line, flush=True))   # flushed: a pipe reader waits for the URL
    sock = bind(host, port)
    folder = find_trackio_dir(runs)
    problem = trackio_data_problem(folder) if folder is not None else None
    if problem:
        announce(f"Warning: trackio's panels stay empty: {problem}")
        folder = None
    scratch = None if folder is not None else Path(tempfile.mkdtemp(prefix="dvao-dashboard-trackio-"))
    try:
        app = build_app(runs, folder or scratch)
        base = f"http://{host if ':' not in host else f'[{host}]'}:{sock.getsockname()[1]}"
        projects = trackio_projects(folder)
        announce(f"Dashboard of {runs}:")
        announce(f"  live Pareto fronts: {base}/pareto")
        if projects:
            query = f"?project={projects[0]}" if len(projects) == 1 else ""
            announce(f"  trackio panels:     {base}/{query}   (data: {folder})")
        else:
            announce(f"  trackio panels:     {base}/   (no readable trackio data for {runs}: runs log there with "
                     "logger=trackio or logger=[wandb,trackio])")
        announce("Ctrl-C stops it.")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        server.run(sockets=[sock])
    finally:
        sock.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
