"""User code the workbench imports by name: plug-in modules (``plugins: [...]``) and reward functions
(``task.rewards: [module.function, ...]``).

A plug-in is a module that registers something when imported: an estimator
(``workbench.advantages.register``), a task (``workbench.tasks.register``), or both. ``plugins`` lists
import paths (``my_pkg.my_estimators``) or ``.py`` files (``my_estimators.py``, ``/abs/path/plugin.py``).
``workbench.run`` imports them before it validates anything, in every process that runs a job: the
main process, the ``local`` launcher's workers, submitit jobs and every torchrun / accelerate rank
(each of those calls ``workbench.run.execute`` with the job's config).

Names resolve against the *launch directory*, the folder the command was started in (Hydra's
``hydra.runtime.cwd``, which a sweep's worker processes and submitit jobs inherit with the config),
so ``my_rewards.accuracy`` finds ``./my_rewards.py`` in every process, whatever that process's own
working directory. A ``.py`` file is imported under its file name as module name (``my_rewards.py`` ->
``my_rewards``), so a plug-in file and a reward path naming the same module share one import.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class PluginError(ValueError):
    """A plug-in or a reward path that cannot be imported; the message says which and how to fix it."""


def launch_dir() -> Path:
    """The folder the command was started in: Hydra's ``hydra.runtime.cwd`` inside a Hydra job (also in
    a sweep's worker processes, which get the job's Hydra config), else the current directory."""
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            cwd = HydraConfig.get().runtime.cwd
            if cwd:
                return Path(cwd)
    except Exception:  # noqa: BLE001 - no Hydra context (tests, a direct call): the process's own folder
        pass
    return Path(os.getcwd())


def _on_path(folder: Path) -> None:
    folder = str(folder.resolve())
    if folder not in sys.path:
        sys.path.insert(0, folder)


def _import_file(path: Path, entry: str) -> Any:
    """Import ``path`` (a .py file) as the module named after it, its folder put on sys.path."""
    name = path.stem
    if not _MODULE.match(name):
        raise PluginError(f"plugin {entry!r}: {path.name} cannot be imported as a module (a module name is letters, "
                          "digits and _ and does not start with a digit); rename the file.")
    loaded = sys.modules.get(name)
    if loaded is not None:
        where = getattr(loaded, "__file__", None)
        if where is None or Path(where).resolve() != path.resolve():
            raise PluginError(f"plugin {entry!r}: a different module named {name!r} is already imported "
                              f"({where or 'built in'}); rename {path.name} so that its name is its own.")
        return loaded
    _on_path(path.parent)
    module = _import_module(name, entry)
    where = getattr(module, "__file__", None)
    if where is None or Path(where).resolve() != path.resolve():
        raise PluginError(f"plugin {entry!r}: importing {name!r} found {where or 'a built-in module'} instead of "
                          f"{path}; rename {path.name} so that its name is its own.")
    return module


def _import_module(name: str, entry: str) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise PluginError(f"{entry!r}: no module named {exc.name!r} in the launch directory {launch_dir()} "
                              "or on sys.path; start the command from the folder that holds it, install it, or add "
                              "its folder to PYTHONPATH (or name the .py file in `plugins`).") from None
        raise PluginError(f"{entry!r}: importing {name!r} failed: {type(exc).__name__}: {exc}") from exc
    except PluginError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error inside the user's module: name it, keep the cause
        raise PluginError(f"{entry!r}: importing {name!r} raised {type(exc).__name__}: {exc}") from exc


def import_plugin(entry: Any) -> Any:
    """Import one plug-in: a module path (``pkg.mod``) or a ``.py`` file (relative to the launch directory)."""
    if not isinstance(entry, str) or not entry.strip():
        raise PluginError(f"plugins: {entry!r} is not a module path or a .py file; e.g. plugins=[my_estimators.py] "
                          "or plugins=[my_pkg.estimators].")
    entry = entry.strip()
    base = launch_dir()
    _on_path(base)
    if entry.endswith(".py") or os.sep in entry or "/" in entry:
        path = Path(entry).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise PluginError(f"plugins: {entry!r}: no such file ({path}); give a .py file that exists, "
                              "relative to the folder the command starts in, or an importable module path.")
        return _import_file(path, f"plugins: {entry}")
    if not _MODULE.match(entry):
        raise PluginError(f"plugins: {entry!r} is not a module path (like my_pkg.estimators) or a .py file.")
    return _import_module(entry, f"plugins: {entry}")


def load(entries: Iterable[Any] | None) -> list[Any]:
    """Import every plug-in in ``entries`` (idempotent: a module already imported is not run again)."""
    if entries is None:
        return []
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, (list, tuple)):
        raise PluginError(f"plugins={entries!r} must be a list of module paths or .py files, e.g. "
                          "plugins=[my_estimators.py].")
    return [import_plugin(e) for e in entries]


def import_object(path: Any, what: str) -> Callable:
    """The object ``module.attr`` names (``what`` labels it in errors, e.g. ``task.rewards[0]``)."""
    if not isinstance(path, str) or "." not in path.strip() or not _MODULE.match(path.strip()):
        raise PluginError(f"{what}={path!r} is not an import path `module.function` (e.g. my_rewards.accuracy, "
                          "with my_rewards.py in the folder the command starts in).")
    module_name, attr = path.strip().rsplit(".", 1)
    _on_path(launch_dir())
    module = _import_module(module_name, f"{what}={path}")
    try:
        return getattr(module, attr)
    except AttributeError:
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise PluginError(f"{what}={path!r}: module {module_name!r} ({getattr(module, '__file__', '?')}) has no "
                          f"{attr!r}; its functions: {', '.join(public) or 'none'}.") from None
