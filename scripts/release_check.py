"""`make release-check`: the built sdist and wheel are what a release publishes.

    python scripts/release_check.py dist/ [--pip-arg=-c --pip-arg=constraints.txt]

Run after ``python -m build`` and ``twine check --strict`` (the Makefile target does both,
in ``.venv-release``). For the wheel and for the sdist, each in a fresh venv of its own
(installing the sdist builds it again, so a file missing from the sdist shows): install the
artifact, then import the package and every module the provider info names, check that
Airflow's entry point finds ``get_provider_info`` and that the version, the metadata (the
Airflow framework classifiers, project URLs, the ``testing`` extra) and ``py.typed`` are
there; then install the ``testing`` extra on top and import the pytest plugin. Exits non-zero naming the first check that failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

# Runs inside each fresh venv (its cwd is a scratch directory, so nothing of the checkout
# can shadow the installed package).
PROBE = r"""
import importlib, json, sys
from importlib import metadata
from importlib.resources import files

import clinical_rules_provider as pkg

expected = sys.argv[1]
assert pkg.__version__ == expected, f"version {pkg.__version__!r}, expected {expected!r}"
assert files("clinical_rules_provider").joinpath("py.typed").is_file(), "py.typed is missing"
(ep,) = [e for e in metadata.entry_points(group="apache_airflow_provider")
         if e.value.startswith("clinical_rules_provider")]
info = ep.load()()
assert info["package-name"] == "airflow-provider-clinical-rules", info["package-name"]
assert info["versions"] == [expected], info["versions"]
modules = {m for group in ("operators", "sensors", "triggers", "hooks")
           for item in info[group] for m in item["python-modules"]}
modules |= {c["hook-class-name"].rsplit(".", 1)[0] for c in info["connection-types"]}
modules |= {link.rsplit(".", 1)[0] for link in info["extra-links"]}
modules |= {u[k].rsplit(".", 1)[0] for u in info["asset-uris"] for k in ("handler", "factory")}
modules |= {"clinical_rules_provider.testing"}  # the simulator: Starlette and uvicorn come with Airflow
for name in sorted(modules):
    importlib.import_module(name)
meta = metadata.metadata("airflow-provider-clinical-rules")
classifiers = meta.get_all("Classifier") or []
for wanted in ("Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider"):
    assert wanted in classifiers, f"classifier {wanted!r} is missing"
assert meta.get_all("Project-URL"), "no Project-URL"
assert "testing" in (meta.get_all("Provides-Extra") or []), "no testing extra"
print(json.dumps({"version": pkg.__version__, "modules": len(modules), "classifiers": len(classifiers)}))
"""


PLUGIN_PROBE = "import pytest_asyncio, clinical_rules_provider.testing.pytest_plugin"


def run(args: list[str], **kwargs: object) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=1800, check=False, **kwargs)  # type: ignore[call-overload]
    if done.returncode != 0:
        raise SystemExit(
            f"release-check: {' '.join(args)} failed\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return str(done.stdout)


def check_artifact(artifact: Path, version: str, pip_args: list[str]) -> str:
    """Install ``artifact`` into a fresh venv and run the probe there; its JSON line."""
    with tempfile.TemporaryDirectory(prefix="release-check-") as scratch:
        venv = Path(scratch) / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        python = str(venv / "bin" / "python")
        run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"])
        run([python, "-m", "pip", "install", "-q", str(artifact), *pip_args])
        run([python, "-m", "pip", "check"])
        found = run([python, "-c", PROBE, version], cwd=scratch).strip().splitlines()[-1]
        # Then the `testing` extra on top: it resolves, and the pytest plugin imports with it.
        run([python, "-m", "pip", "install", "-q", f"{artifact}[testing]", *pip_args])
        run([python, "-c", PLUGIN_PROBE], cwd=scratch)
        return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dist", type=Path, help="the folder python -m build wrote")
    parser.add_argument("--pip-arg", action="append", default=[], help="extra pip install argument")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "provider"))
    from clinical_rules_provider import __version__

    wheels = sorted(args.dist.glob(f"airflow_provider_clinical_rules-{__version__}-*.whl"))
    sdists = sorted(args.dist.glob(f"airflow_provider_clinical_rules-{__version__}.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"release-check: expected one wheel and one sdist of {__version__} in {args.dist}")
    for artifact in (wheels[0], sdists[0]):
        print(f"release-check: {artifact.name}: fresh venv, install, import ...", flush=True)
        print(f"release-check: {artifact.name}: ok {check_artifact(artifact, __version__, args.pip_arg)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
