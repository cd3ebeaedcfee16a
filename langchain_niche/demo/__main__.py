"""Run the offline demo: ``python -m langchain_niche.demo [section ...]``."""

from __future__ import annotations

import argparse
import importlib
import sys

from langchain_niche.demo import SECTIONS
from langchain_niche.demo.console import Console


def main(argv: list[str] | None = None) -> int:
    """Run the demo sections named on the command line (default: all)."""
    parser = argparse.ArgumentParser(prog="python -m langchain_niche.demo", description=__doc__)
    parser.add_argument("sections", nargs="*", help=f"sections to run (default: all of {SECTIONS})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {unknown}; choose from {SECTIONS}")
    out = Console()
    out.wrap(
        "langchain-niche demo. Everything runs offline on this machine: corpora come from the "
        "Python installation, models are scripted stand-ins (labelled as such), and every time "
        "shown was measured just now."
    )
    for name in args.sections or SECTIONS:
        module = importlib.import_module(f"langchain_niche.demo.{name}")
        out.heading(module.TITLE)
        module.run(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
