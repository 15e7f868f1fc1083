"""`python -m analysis.dashboard RUNS [--host 127.0.0.1] [--port 7870]` (make dashboard): serve the live
dashboard of a runs folder; docs/analysis.md#the-live-dashboard."""
from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

from analysis.dashboard.server import DEFAULT_PORT, PortInUse, serve


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m analysis.dashboard",
                                     description="Live local dashboard of a runs folder: trackio's panels at / and "
                                                 "the live Pareto fronts at /pareto.")
    parser.add_argument("runs", help="folder holding run directories at any depth (e.g. runs/ or runs/demo); "
                                     "it may still be empty while a sweep starts")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default: {DEFAULT_PORT}; 0: any free port, printed at start)")
    args = parser.parse_args(argv)
    runs = Path(args.runs)
    if not args.runs.strip() or not runs.is_dir():
        parser.error(f"{args.runs!r} is not a folder; pass the runs folder that `python -m workbench.run` writes "
                     "(runs/, or one sweep's runs/<sweep>)")
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port} is not a port number (0-65535; 0: any free port)")
    if importlib.util.find_spec("trackio") is None:
        parser.error("the dashboard needs the trackio package (and the web server it brings): run `make install` "
                     "or `pip install -e '.[dashboard]'`")
    try:
        serve(runs, args.host, args.port)
    except PortInUse as err:
        parser.exit(1, f"python -m analysis.dashboard: error: {err}\n")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
