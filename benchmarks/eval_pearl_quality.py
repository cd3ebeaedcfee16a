"""PEARL vs zero-shot on QuALITY, side by side (the PEARL paper's evaluation).

    python benchmarks/eval_pearl_quality.py --data QuALITY.v1.0.1.htmlstripped.dev --model gpt-4o
    python benchmarks/eval_pearl_quality.py --offline   # scripted model, no key (CI)

See ``langchain_niche.pearl.reproduce`` for the setup it reproduces and every option.
"""

from __future__ import annotations

import sys

from langchain_niche.pearl.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
