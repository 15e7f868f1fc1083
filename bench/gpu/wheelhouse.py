"""The wheels the GPU machine lacks, for the versions this project runs with here: `make wheelhouse`.

    python bench/gpu/wheelhouse.py [--dest wheelhouse]

The GPU machine (bench/gpu/device_packages.txt) has torch, transformers, accelerate, peft, numpy, pandas,
pyarrow, ... but no trl, hydra-core, omegaconf or datasets, and no network. This downloads, for its
Python (3.12, x86-64 Linux), one wheel of each distribution in CARRIED at the version installed in the
running environment (the project's venv: what the tests ran with), with no dependencies (each needed one is
listed). antlr4-python3-runtime 4.9.3 (hydra's pin) exists only as source; it is built into a pure-Python
wheel here. Then it checks that the wheels and the working tree that travels with them (tracked and
untracked-not-ignored files) fit the device tool's 64 MiB, and only then replaces the wheels of an earlier
build in ``--dest``; a folder that holds other files is refused. bench/gpu/run.sh installs them there with
``pip install --no-index --no-deps --target``. Not carried, because the check does not import them:
wandb (logger=none), moocore (analysis only), math-verify (task.checker=workbench); check.py records every
distribution its stages import and names any that is neither on the machine nor here.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 64 * 2 ** 20            # the device tool carries at most 64 MiB: working tree + carried paths
MANIFEST = "manifest.json"
PYTHON = "3.12"                 # the GPU machine's python3 (3.12.3)
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")
# distribution -> why the check needs it (all absent from the GPU machine)
CARRIED = {
    "trl": "GRPOTrainer, the trainer both sides of the comparison run",
    "datasets": "trl's and the tasks' dataset type",
    "dill": "datasets' pickling",
    "multiprocess": "datasets' worker pool",
    "hydra-core": "python -m workbench.run composes its config with Hydra",
    "omegaconf": "Hydra's config objects",
    "antlr4-python3-runtime": "omegaconf's interpolation grammar (hydra pins 4.9.*)",
}


def pinned(names=CARRIED) -> dict[str, str]:
    """The installed version of each distribution; a missing one says how to install the project."""
    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            raise SystemExit(f"{name} is not installed in {sys.prefix}: run `make install` first (the wheelhouse "
                             "takes the versions the project runs with here).") from None
    return out


def travelling_bytes(root: Path = ROOT) -> int:
    """Bytes of what the device tool sends without being asked: tracked and untracked-not-ignored files."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=root, check=True,
                                capture_output=True).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"{root} is not a git checkout ({exc}): the size of what travels cannot be counted.") from None
    return sum((root / os.fsdecode(p)).stat().st_size for p in listed if p and (root / os.fsdecode(p)).is_file())


def fits(wheel_bytes: int, tree_bytes: int, limit: int = LIMIT) -> str | None:
    """None when the wheels and the working tree fit ``limit``; else the message that says by how much."""
    total = wheel_bytes + tree_bytes
    if total <= limit:
        return None
    mib = lambda n: f"{n / 2 ** 20:.1f} MiB"  # noqa: E731
    return (f"the wheels ({mib(wheel_bytes)}) and the working tree that travels ({mib(tree_bytes)}) make {mib(total)}, "
            f"over the device tool's {mib(limit)}: carry fewer wheels (bench/gpu/wheelhouse.py CARRIED) or make the "
            "tree smaller (large untracked files that are not ignored travel too).")


def pure(wheel: Path) -> bool:
    """A wheel that runs on any Python 3 and platform (what a source build here must give)."""
    return wheel.name.endswith(("-py3-none-any.whl", "-py2.py3-none-any.whl"))


def download(name: str, ver: str, into: Path) -> Path:
    """One wheel of name==ver for the GPU machine's Python and platform; a source-only release is built here
    into a wheel, which must be pure Python."""
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    target = ["--python-version", PYTHON, "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)]]
    before = set(into.iterdir())
    got = subprocess.run([*pip, "download", "--no-deps", "--only-binary=:all:", *target, "-d", str(into), f"{name}=={ver}"],
                         capture_output=True, text=True)
    if got.returncode != 0:
        if "from versions: none" not in got.stderr and "No matching distribution" not in got.stderr:
            raise SystemExit(f"pip download {name}=={ver} failed:\n{got.stderr[-2000:]}")
        built = subprocess.run([*pip, "wheel", "--no-deps", "--no-binary=:all:", "-w", str(into), f"{name}=={ver}"],
                               capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"{name}=={ver} has no wheel for Python {PYTHON} and building one from source failed:\n"
                             f"{built.stderr[-2000:]}")
    new = [p for p in set(into.iterdir()) - before if p.suffix == ".whl"]
    if len(new) != 1:
        raise SystemExit(f"{name}=={ver}: expected one new wheel, got {sorted(p.name for p in new)}")
    if got.returncode != 0 and not pure(new[0]):
        raise SystemExit(f"{new[0].name} was built here for this machine's Python; it would not install on the GPU "
                         f"machine's {PYTHON}. Download a {PYTHON} wheel by hand into the wheelhouse.")
    return new[0]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_dest(dest: Path) -> dict:
    """The earlier manifest of ``dest`` ({} when absent or empty); a folder holding other files is refused."""
    if dest.exists() and not dest.is_dir():
        raise SystemExit(f"--dest {dest}: a file is in the way; give a folder.")
    if not dest.is_dir() or not any(dest.iterdir()):
        return {}
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError):
        raise SystemExit(f"--dest {dest}: the folder holds files and no {MANIFEST} of an earlier wheelhouse; give a new "
                         "or empty folder (only an earlier wheelhouse's own files are replaced).") from None
    return manifest


def build(dest: Path, tree_bytes: int | None = None) -> dict:
    """Download into a staging folder, check the size, then swap the wheels into ``dest``. Returns the manifest."""
    earlier = check_dest(dest)
    versions = pinned()
    tree = travelling_bytes() if tree_bytes is None else tree_bytes
    with tempfile.TemporaryDirectory(prefix="wheelhouse-") as tmp:   # outside the checkout: it would travel
        staging = Path(tmp)
        wheels = {}
        for name, ver in versions.items():
            wheel = download(name, ver, staging)
            wheels[name] = {"version": ver, "file": wheel.name, "bytes": wheel.stat().st_size, "sha256": sha256(wheel)}
            print(f"  {wheel.name:<60} {wheel.stat().st_size / 1024:>8.0f} KiB", flush=True)
        wheel_bytes = sum(w["bytes"] for w in wheels.values())
        problem = fits(wheel_bytes, tree)
        if problem:
            raise SystemExit(problem + " Nothing in the wheelhouse was changed.")
        dest.mkdir(parents=True, exist_ok=True)
        for old in (earlier.get("wheels") or {}).values():   # only the files the earlier build listed
            (dest / old["file"]).unlink(missing_ok=True)
        for w in wheels.values():
            shutil.move(str(staging / w["file"]), dest / w["file"])
    manifest = {"built": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": PYTHON,
                "platforms": list(PLATFORMS), "wheels": wheels, "wheel_bytes": wheel_bytes, "tree_bytes": tree,
                "limit_bytes": LIMIT}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / "wheelhouse",
                        help="folder for the wheels (default: wheelhouse/ in the checkout, git-ignored)")
    args = parser.parse_args(argv)
    print(f"downloading {len(CARRIED)} wheels for Python {PYTHON} (x86-64 Linux) into {args.dest}", flush=True)
    manifest = build(args.dest)
    mib = lambda n: f"{n / 2 ** 20:.1f} MiB"  # noqa: E731
    print(f"wheelhouse: {len(manifest['wheels'])} wheels, {mib(manifest['wheel_bytes'])}; with the working tree "
          f"({mib(manifest['tree_bytes'])}) {mib(manifest['wheel_bytes'] + manifest['tree_bytes'])} of "
          f"{mib(LIMIT)}. Run on the GPU machine: bash bench/gpu/run.sh, carrying wheelhouse (docs/scaling.md).")


if __name__ == "__main__":
    main()
