r"""Command line: build, inspect and query MinHash-LSH indexes, deduplicate JSONL files.

``python -m langchain_niche --help`` (or the ``langchain-niche`` console script)::

    python -m langchain_niche build examples.jsonl --input-keys question -o tickets.niche.zip
    python -m langchain_niche build examples.jsonl --input-keys question \\
        --redis-url redis://localhost:6379/0 --index-name tickets
    python -m langchain_niche inspect tickets.niche.zip
    python -m langchain_niche query tickets.niche.zip "my password does not work" -k 3
    python -m langchain_niche dedupe answers.jsonl -o answers.dedup.jsonl --threshold 0.9

Long work shows a progress bar when ``tqdm`` is installed (``pip install
"langchain-niche[cli]"``); without it, plain progress lines go to stderr.
Results are printed as JSON (one object per line for ``query``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from langchain_niche.dedupe import dedupe_examples
from langchain_niche.errors import InvalidExampleError, NicheError
from langchain_niche.selectors.minhash import MinHashExampleSelector

__all__ = ["main"]

ProgressUpdate = Callable[[int], None]


class _PlainProgress:
    """A stand-in for tqdm: a line on stderr at most every two seconds."""

    def __init__(self, total: int, desc: str, stream: TextIO) -> None:
        self.total, self.desc, self.stream = total, desc, stream
        self.done = 0
        self.last = 0.0

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self.last >= 2.0 or self.done >= self.total:
            self.last = now
            self.stream.write(f"{self.desc}: {self.done:,}/{self.total:,}\n")
            self.stream.flush()

    def close(self) -> None:
        """Nothing to release."""


@contextmanager
def _progress(total: int, desc: str, *, enabled: bool) -> Iterator[ProgressUpdate]:
    if not enabled:
        yield lambda _count: None
        return
    try:
        from tqdm import tqdm  # noqa: PLC0415 - optional dependency
    except ImportError:
        bar: Any = _PlainProgress(total, desc, sys.stderr)
    else:
        bar = tqdm(total=total, desc=desc, unit="ex", file=sys.stderr)
    try:
        yield bar.update
    finally:
        bar.close()


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """Read a JSON-lines file of objects (``-`` for stdin); blank lines are skipped.

    Args:
        path: The file.

    Returns:
        The objects.

    Raises:
        InvalidExampleError: A line is not a JSON object (the error names the line).
    """
    stream = sys.stdin if path == "-" else Path(path).open(encoding="utf-8")  # noqa: SIM115
    out: list[dict[str, Any]] = []
    with stream:
        for line_no, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                msg = f"{path}:{line_no}: not JSON: {exc}"
                raise InvalidExampleError(msg) from exc
            if not isinstance(value, dict):
                msg = f"{path}:{line_no}: expected a JSON object, got {type(value).__name__}"
                raise InvalidExampleError(msg)
            out.append(value)
    return out


def _keys(value: str | None) -> list[str] | None:
    return [key.strip() for key in value.split(",") if key.strip()] if value else None


def _ngrams(value: str) -> tuple[int, int]:
    lo, _, hi = value.partition(",")
    try:
        return int(lo), int(hi or lo)
    except ValueError as exc:
        msg = f"--ngram-range must look like 1,2; got {value!r}"
        raise argparse.ArgumentTypeError(msg) from exc


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.redis_url:
        settings.update(redis_url=args.redis_url, index_name=args.index_name)
    return settings


def _open(args: argparse.Namespace, **overrides: Any) -> MinHashExampleSelector:
    if args.redis_url:
        if args.index:
            msg = "give either an index file or --redis-url, not both"
            raise SystemExit(msg)
        return MinHashExampleSelector(**_settings(args), **overrides)
    if not args.index:
        msg = "give an index file or --redis-url"
        raise SystemExit(msg)
    return MinHashExampleSelector.load(args.index, **overrides)


def _cmd_build(args: argparse.Namespace) -> int:
    if not args.redis_url and not args.output:
        msg = "build needs -o/--output (an index file) or --redis-url"
        raise SystemExit(msg)
    examples = read_jsonl(args.input)
    ids = None
    if args.id_key:
        ids = [str(example.get(args.id_key, "")) for example in examples]
    settings: dict[str, Any] = {
        "input_keys": _keys(args.input_keys),
        "num_perm": args.num_perm,
        "lsh_threshold": args.lsh_threshold,
        "seed": args.seed,
        "ngram_range": args.ngram_range,
        **_settings(args),
    }
    start = time.perf_counter()
    selector = MinHashExampleSelector(**settings)
    with _progress(len(examples), "indexing", enabled=not args.no_progress) as update:
        for lo in range(0, len(examples), args.batch_size):
            part = examples[lo : lo + args.batch_size]
            selector.add_examples(part, ids=None if ids is None else ids[lo : lo + len(part)])
            update(len(part))
    info = selector.describe_index()
    info["build_seconds"] = round(time.perf_counter() - start, 3)
    if args.output:
        info["path"] = str(selector.save(args.output))
    print(json.dumps(info, indent=2))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    selector = _open(args)
    info = selector.describe_index()
    if args.audit:
        info["audit"] = selector.audit()
    print(json.dumps(info, indent=2))
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {"k": args.k}
    if args.threshold is not None:
        overrides["threshold"] = args.threshold
    selector = _open(args, **overrides)
    if args.json:
        query = json.loads(args.text)
        if not isinstance(query, dict):
            msg = "--json needs a JSON object"
            raise SystemExit(msg)
    else:
        keys = selector.input_keys or []
        if len(keys) != 1:
            msg = f"the index compares {keys}; pass the input as --json '{{...}}'"
            raise SystemExit(msg)
        query = {keys[0]: args.text}
    for hit in selector.search(query):
        print(
            json.dumps(
                {"id": hit.id, "score": hit.score, "example": hit.example}, ensure_ascii=False
            )
        )
    return 0


def _cmd_dedupe(args: argparse.Namespace) -> int:
    examples = read_jsonl(args.input)
    with _progress(len(examples), "deduplicating", enabled=not args.no_progress) as update:
        seen = [0]

        def report(done: int, _total: int) -> None:
            update(done - seen[0])
            seen[0] = done

        kept = dedupe_examples(
            examples,
            args.threshold,
            input_keys=_keys(args.input_keys),
            ngram_range=args.ngram_range,
            num_perm=args.num_perm,
            seed=args.seed,
            on_progress=report,
        )
    _write_jsonl(args.output, kept)
    print(
        f"kept {len(kept):,} of {len(examples):,} examples ({len(examples) - len(kept):,} near-duplicates removed)",
        file=sys.stderr,
    )
    return 0


def _write_jsonl(path: str | None, rows: list[dict[str, Any]]) -> None:
    lines = (json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    if path in (None, "-"):
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with Path(str(path)).open("w", encoding="utf-8") as stream:
        stream.writelines(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m langchain_niche",
        description="Build, inspect and query MinHash-LSH example indexes; deduplicate JSONL.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def index_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--num-perm", type=int, default=128, help="MinHash permutations (128)")
        p.add_argument("--seed", type=int, default=1, help="MinHash seed (1)")
        p.add_argument("--ngram-range", type=_ngrams, default=(1, 1), help="e.g. 1,2 (1,1)")

    def store_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="use the Redis index at this URL instead of a file")
        p.add_argument("--index-name", default="default", help="Redis index name (default)")

    build = sub.add_parser("build", help="index a JSONL file of examples")
    build.add_argument("input", help="JSONL file of example objects ('-' for stdin)")
    build.add_argument("-o", "--output", help="index file to write (e.g. x.niche.zip)")
    build.add_argument("--input-keys", required=True, help="compared fields, comma-separated")
    build.add_argument("--id-key", help="take example ids from this field")
    build.add_argument("--lsh-threshold", type=float, default=0.5, help="banding target (0.5)")
    build.add_argument("--batch-size", type=int, default=10_000, help="examples per step")
    build.add_argument("--no-progress", action="store_true", help="no progress bar")
    index_options(build)
    store_options(build)
    build.set_defaults(run=_cmd_build)

    inspect = sub.add_parser("inspect", help="print an index's size and settings")
    inspect.add_argument("index", nargs="?", help="index file (or use --redis-url)")
    inspect.add_argument("--audit", action="store_true", help="check every example (Redis)")
    store_options(inspect)
    inspect.set_defaults(run=_cmd_inspect)

    query = sub.add_parser("query", help="select the examples most similar to a text")
    query.add_argument("index", nargs="?", help="index file (or use --redis-url)")
    query.add_argument("text", help="input text (or a JSON object with --json)")
    query.add_argument("-k", type=int, default=4, help="examples to select (4)")
    query.add_argument("--threshold", type=float, help="minimum similarity")
    query.add_argument("--json", action="store_true", help="TEXT is a JSON object of fields")
    store_options(query)
    query.set_defaults(run=_cmd_query)

    dedupe = sub.add_parser("dedupe", help="remove near-duplicates from a JSONL file")
    dedupe.add_argument("input", help="JSONL file ('-' for stdin)")
    dedupe.add_argument("-o", "--output", help="output JSONL (default: stdout)")
    dedupe.add_argument("--threshold", type=float, default=0.9, help="Jaccard similarity (0.9)")
    dedupe.add_argument("--input-keys", help="compared fields (default: all)")
    dedupe.add_argument("--no-progress", action="store_true", help="no progress bar")
    index_options(dedupe)
    dedupe.set_defaults(run=_cmd_dedupe)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit status: 0 on success, 1 when the data or settings are rejected.
    """
    args = _parser().parse_args(argv)
    try:
        status: int = args.run(args)
    except (NicheError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return status
