"""The offline demo (``python -m langchain_niche.demo``): every capability doing real work.

Each capability contributes one section module in this package exposing
``TITLE: str`` and ``run(out: Console) -> None``. Sections run in the order of
:data:`SECTIONS`; ``python -m langchain_niche.demo selection`` runs one section.
Everything works offline on embedded defaults: corpora come from the Python
installation itself, and models are clearly labelled scripted models.
"""

from __future__ import annotations

__all__ = ["SECTIONS"]

SECTIONS: list[str] = ["selection", "minhash", "pearl", "compression"]
"""Section modules of ``langchain_niche.demo``, in the order they run."""
