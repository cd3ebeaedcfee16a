"""``python -m langchain_niche``: the command line (see :mod:`langchain_niche.cli`)."""

from langchain_niche.cli import main

raise SystemExit(main())
