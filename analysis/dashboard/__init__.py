"""`python -m analysis.dashboard RUNS`: a live local dashboard of a runs folder (docs/analysis.md#the-live-dashboard).

One local web server, two views of the same runs while a sweep writes them:
- ``/``: trackio's own dashboard (runs, every metric as a panel), reading the SQLite data that runs logged
  with ``logger=trackio`` keep in ``<runs root>/.trackio`` (workbench/logger.py);
- ``/pareto``: the workbench's live Pareto page, the current eval fronts per task and model panel from
  the run store (finished runs' summary.json, as ``analysis.pareto`` reads them), redrawn as runs finish.

``live.snapshot`` builds the page's data (pure: read the store, no writes); ``server`` composes the app.
"""
