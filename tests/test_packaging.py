"""Packaging: one environment described three ways that agree, and the commands the README promises."""

import re
from importlib import resources
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def normalise(requirement: str) -> str:
    return re.sub(r"\s+", "", requirement).lower()


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    project = PYPROJECT["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["course"]
    assert sorted(normalise(r) for r in pip if not r.startswith("-e")) == sorted(map(normalise, wanted))
    assert "-e ." in pip, "environment.yml installs the course package itself"


def test_constraints_pin_every_dependency_and_the_known_good_torch():
    pins = dict(line.split("==", 1) for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    pins = {name.lower().replace("_", "-"): version for name, version in pins.items()}
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    project = PYPROJECT["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["course"]:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)\s+# (?:main job|tests)", readme, re.MULTILINE)
    assert commands == ["make lab", "make test"], commands
    ci = [line for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line and not line.startswith(("#", "set ", "cd "))]
    assert ci == ["make test"]


def test_offline_mnist_ships_inside_the_package():
    folder = resources.files("helpers") / "_data" / "mnist-t10k"
    names = {entry.name for entry in folder.iterdir()}
    assert {"t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "README.md"} <= names
    package_data = PYPROJECT["tool"]["setuptools"]["package-data"]["helpers._data"]
    assert "mnist-t10k/*" in package_data, "the digits must go into wheels too, not only editable installs"


def test_license_is_an_spdx_string_that_setuptools_accepts_quietly():
    """A TOML-table license is deprecated (setuptools warns, and stops accepting it in 2027)."""
    assert PYPROJECT["project"]["license"] == "MIT"
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"], "SPDX strings need setuptools 77"


def test_helpers_docstring_and_readme_list_every_module():
    import helpers

    modules = sorted(p.stem for p in (ROOT / "helpers").glob("*.py") if not p.stem.startswith("_"))
    readme = (ROOT / "README.md").read_text()
    for module in modules:
        assert f"``{module}``" in helpers.__doc__, f"helpers/__init__.py does not describe {module}"
        assert f"| `{module}` |" in readme, f"the README's helpers table does not list {module}"
