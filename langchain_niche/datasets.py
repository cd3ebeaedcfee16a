"""Real corpora available offline wherever Python is installed.

:func:`python_api_examples` harvests the documented public functions, classes and
methods of a fixed list of standard-library modules into few-shot examples
``{"description": <first sentence of the docstring>, "function": "module.name"}``:
several thousand real, human-written texts for a niche task ("which standard
library function does this?"), with no download and no licence concern (the
Python documentation is PSF-licensed and ships with every interpreter).
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
from functools import lru_cache
from typing import Any

__all__ = ["STDLIB_MODULES", "python_api_examples"]

STDLIB_MODULES: tuple[str, ...] = tuple(
    """
    abc argparse array ast asyncio base64 binascii bisect bz2 calendar cmath codecs collections
    collections.abc colorsys concurrent.futures configparser contextlib copy csv dataclasses
    datetime decimal difflib email.utils enum filecmp fnmatch fractions functools gc getopt
    gettext glob graphlib gzip hashlib heapq hmac html html.parser http.client http.cookies
    importlib inspect io ipaddress itertools json keyword linecache locale logging lzma
    mailbox math mimetypes multiprocessing numbers operator os os.path pathlib pkgutil
    platform plistlib pprint queue quopri random re reprlib sched secrets selectors shelve
    shlex shutil signal socket socketserver sqlite3 ssl stat statistics string struct
    subprocess sys sysconfig tarfile tempfile textwrap threading time timeit tokenize
    traceback tracemalloc types typing unicodedata urllib.parse urllib.request uuid warnings
    wave weakref xml.dom.minidom xml.etree.ElementTree zipfile zlib zoneinfo
    """.split()  # noqa: SIM905 - a word list reads better than a literal of 120 strings
)
"""Modules harvested: importing them has no side effects."""

_SENTENCE_RE = re.compile(r"(.+?[.!?])(\s|$)")
_MIN_WORDS = 4
_MAX_CHARS = 300


def _first_sentence(doc: str) -> str:
    paragraph = inspect.cleandoc(doc).strip().split("\n\n")[0].replace("\n", " ")
    match = _SENTENCE_RE.match(paragraph)
    return " ".join((match.group(1) if match else paragraph).split())


def _owned_by(obj: Any, module_name: str) -> bool:
    """True when ``obj`` is defined by the module (or its C accelerator), not re-exported."""
    owner = getattr(obj, "__module__", None) or ""
    top = module_name.split(".", maxsplit=1)[0]
    return owner == module_name or owner.lstrip("_").startswith(top) or owner in {"posix", "nt"}


def _usable(description: str, name: str) -> bool:
    return (
        len(description.split()) >= _MIN_WORDS
        and len(description) <= _MAX_CHARS
        and not description.startswith(f"{name}(")
    )


@lru_cache(maxsize=1)
def _harvest() -> tuple[tuple[str, str], ...]:
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []

    def add(description: str, qualified: str) -> None:
        key = (description, qualified)
        if key not in seen:
            seen.add(key)
            out.append(key)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module_name in STDLIB_MODULES:
            try:
                module = importlib.import_module(module_name)
            except ImportError:  # e.g. a Python built without sqlite3
                continue
            for attr in sorted(vars(module)):
                obj = getattr(module, attr)
                if attr.startswith("_") or not (inspect.isroutine(obj) or inspect.isclass(obj)):
                    continue
                if not _owned_by(obj, module_name):
                    continue
                doc = inspect.getdoc(obj)
                if doc and _usable(description := _first_sentence(doc), attr):
                    add(description, f"{module_name}.{attr}")
                if not inspect.isclass(obj):
                    continue
                for method_name in sorted(vars(obj)):
                    method = vars(obj)[method_name]
                    if method_name.startswith("_") or not callable(method):
                        continue
                    method_doc = inspect.getdoc(method)
                    if method_doc and _usable(
                        description := _first_sentence(method_doc), method_name
                    ):
                        add(description, f"{module_name}.{attr}.{method_name}")
    return tuple(out)


def python_api_examples() -> list[dict[str, str]]:
    """Few-shot examples harvested from the standard library's docstrings.

    Returns:
        ``[{"description": ..., "function": ...}, ...]`` (several thousand, in a
        stable order for a given Python version). Each call returns fresh dicts.

    Example:
        ```python
        examples = python_api_examples()
        examples[0]
        # {'description': 'Metaclass for defining Abstract Base Classes (ABCs).',
        #  'function': 'abc.ABCMeta'}
        ```
    """
    return [{"description": d, "function": f} for d, f in _harvest()]
