"""A Python with only the GPU machine's packages and the wheelhouse's, to rehearse bench/gpu/check.py here.

The GPU machine has no network and no trl, hydra or datasets (bench/gpu/device_packages.txt); what the check
imports there must be on that list or carried as a wheel (bench/gpu/wheelhouse.py CARRIED). Here every
package is installed, and libraries import optional ones when they find them (wandb, trackio, ...), so a
plain run proves nothing. ``device_like_python`` makes a virtual environment of the base interpreter whose
site-packages links only the allowed distributions of the running environment (their files and metadata,
so ``find_spec`` and ``importlib.metadata`` agree that the others are absent); the project itself comes from
PYTHONPATH, as on the device. Versions are this machine's, not the device's.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import defaultdict
from importlib.metadata import distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "bench" / "gpu"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def device_packages() -> set[str]:
    """The GPU machine's distributions (bench/gpu/device_packages.txt), normalised."""
    names = set()
    for line in (GPU / "device_packages.txt").read_text().splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.add(normalise(name))
    return names


def requirement_closure(names: set[str]) -> set[str]:
    """``names`` and everything they require, as installed here (extras left out)."""
    from importlib.metadata import PackageNotFoundError, distribution

    from packaging.requirements import Requirement

    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for text in reqs:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(normalise(req.name))
    return seen


def allowed() -> set[str]:
    """The device's distributions with what they need as installed here (the device's own versions bring their
    own needs: hub 1.33 there uses httpx, this machine's newer hub httpx2), plus the carried ones alone: a
    carried distribution's need that is neither on the device nor carried must fail here as it would there."""
    sys.path.insert(0, str(GPU))
    try:
        from wheelhouse import CARRIED
    finally:
        sys.path.remove(str(GPU))
    return requirement_closure(device_packages()) | {normalise(n) for n in CARRIED}


def _entries(dist) -> set[Path]:
    """A distribution's files relative to its site-packages (scripts and data outside it dropped)."""
    return {Path(f) for f in (dist.files or []) if not str(f).startswith("..") and not str(f).endswith(".pth")}


def device_like_python(dest: Path, keep: set[str] | None = None) -> Path:
    """A python whose site-packages holds only the distributions in ``keep`` (default: device + wheelhouse)."""
    keep = allowed() if keep is None else keep
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(dest)], check=True)
    site = next(dest.glob("lib/python*/site-packages"))
    owners: dict[str, set[str]] = defaultdict(set)   # top-level entry -> the distributions with files in it
    files: dict[str, tuple[Path, set[Path]]] = {}
    for dist in distributions():
        name = normalise(dist.metadata["Name"] or "")
        if not name or name in files:
            continue
        entries = _entries(dist)
        files[name] = (Path(dist.locate_file("")), entries)
        for entry in entries:
            owners[entry.parts[0]].add(name)
    for name in keep & set(files):
        root, entries = files[name]
        for top in {e.parts[0] for e in entries}:
            if owners[top] <= keep:                  # nobody outside `keep` has files there: link it whole
                if not (site / top).exists():
                    os.symlink(root / top, site / top)
                continue
            for entry in (e for e in entries if e.parts[0] == top):   # a shared namespace: file by file
                target = site / entry
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists() and not target.is_symlink():
                    os.symlink(root / entry, target)
    return dest / "bin" / "python"
