"""Point the course's notebooks at a hosted copy, for Google Colab: ``make colab REPO=owner/name``.

Every notebook's first cell installs the course package in Colab from ``COURSE_PACKAGE``. This sets
that line to ``git+https://github.com/OWNER/NAME`` in every notebook of ``solutions/`` and
``notebooks/`` (the learner versions are regenerated from the solutions by ``make release`` right
after, as ``make colab`` does), and writes "Open in Colab" badges for the released notebooks into the
README, between the ``colab-badges`` markers. ``--package URL`` sets any pip URL instead (a fork, a
tag: ``git+https://github.com/owner/name@v1``).

    python deploy/colab.py owner/name [--branch main] [--package URL] [--root .]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
PACKAGE_LINE = re.compile(r'^COURSE_PACKAGE = "[^"\n]*"', re.MULTILINE)
START, END = "<!-- colab-badges:start -->", "<!-- colab-badges:end -->"
BADGE = "https://colab.research.google.com/assets/colab-badge.svg"


def check_repo(repo: str) -> str:
    """Accept ``owner/name`` as GitHub spells it; raise ValueError otherwise."""
    if not isinstance(repo, str) or not REPO.match(repo) or repo.endswith((".git", "/")):
        raise ValueError(f"REPO must be a GitHub repository as owner/name (e.g. my-org/pruning-workbook), "
                         f"got {repo!r}")
    return repo


def notebooks(root: Path) -> list[Path]:
    return sorted([*root.glob("solutions/[0-9]*/*.ipynb"), *root.glob("notebooks/[0-9]*/*.ipynb")])


def set_course_package(root: Path, url: str) -> list[Path]:
    """Set ``COURSE_PACKAGE = "url"`` in the first cell of every notebook; return the notebooks changed."""
    if '"' in url or "\n" in url or not url.strip():
        raise ValueError(f"the package URL must be a non-empty pip URL without quotes, got {url!r}")
    changed = []
    for path in notebooks(root):
        text = path.read_text()
        nb = json.loads(text)
        cell = next((c for c in nb["cells"] if c["cell_type"] == "code"
                     and PACKAGE_LINE.search("".join(c["source"]))), None)
        if cell is None:
            raise ValueError(f"{path} has no COURSE_PACKAGE line in a code cell")
        source = PACKAGE_LINE.sub(f'COURSE_PACKAGE = "{url}"', "".join(cell["source"]), count=1)
        lines = source.split("\n")
        cell["source"] = [line + "\n" for line in lines[:-1]] + [lines[-1]]
        new = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed


def badges(root: Path, repo: str, branch: str = "main") -> str:
    """The README block: one "Open in Colab" badge per released notebook of ``repo`` on ``branch``."""
    lines = [START, "| notebook | open |", "|---|---|"]
    for path in sorted(root.glob("notebooks/[0-9]*/*.ipynb")):
        link = f"https://colab.research.google.com/github/{repo}/blob/{branch}/{path.relative_to(root).as_posix()}"
        lines.append(f"| `{path.stem}` | [![Open In Colab]({BADGE})]({link}) |")
    return "\n".join([*lines, END])


def write_badges(root: Path, repo: str, branch: str = "main") -> None:
    """Replace the README's block between the colab-badges markers."""
    readme = root / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{readme} has no {START} ... {END} block to fill")
    head, rest = text.split(START, 1)
    readme.write_text(head + badges(root, repo, branch) + rest.split(END, 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", help="the GitHub repository that hosts the course, as owner/name")
    parser.add_argument("--branch", default="main", help="branch the badges open (default: main)")
    parser.add_argument("--package", help="pip URL to install from (default: git+https://github.com/REPO)")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        repo = check_repo(args.repo)
        changed = set_course_package(args.root, args.package or f"git+https://github.com/{repo}")
        write_badges(args.root, repo, args.branch)
    except ValueError as error:
        print(f"make colab: {error}", file=sys.stderr)
        return 2
    print(f"COURSE_PACKAGE set in {len(changed)} notebook(s); README badges point at {repo} ({args.branch}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
