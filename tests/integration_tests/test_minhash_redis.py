"""MinHashExampleSelector against a real redis-server (started by the fixture)."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from langchain_core.prompts import FewShotPromptTemplate, PromptTemplate

from langchain_niche import (
    DuplicateIdError,
    ExampleNotFoundError,
    IndexFormatError,
    InvalidParameterError,
    JaccardExampleSelector,
    MinHashExampleSelector,
    MissingKeyError,
    StoreUnavailableError,
)
from langchain_niche.datasets import python_api_examples
from langchain_niche.minhash.redis.url import redact_url
from tests.support.minhash_writer import duplicate_heavy_corpus, synthetic_examples
from tests.support.redis_index import QUERIES, redis_selector
from tests.support.redis_server import SilentServer, start_writer

ROOT = Path(__file__).resolve().parents[2]


def test_selections_equal_the_in_memory_index(
    redis_url: str, index_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import langchain_niche.minhash.redis.reads as redis_storage  # noqa: PLC0415

    corpus = python_api_examples()
    shared = redis_selector(redis_url, index_name, examples=corpus, k=4, redis_batch_size=700)
    memory = MinHashExampleSelector(examples=corpus, input_keys=["description"], k=4)
    assert len(shared) == len(memory) == len(corpus)
    texts = [*QUERIES, corpus[77]["description"], "Open a file for reading text"]
    settings: list[dict[str, Any]] = [
        {"fallback": "probe"},
        {"fallback": "none"},
        {"fallback": "probe", "rerank": "minhash"},  # scored here, not with exact ids
        {"fallback": "probe", "threshold": 0.45},  # the probe asked for in a second step
    ]
    for docs_with_candidates in (64, 0):  # documents in the first reply, or fetched after
        monkeypatch.setattr(redis_storage, "_DOCS_WITH_CANDIDATES", docs_with_candidates)
        for setting in settings:
            for name in ("fallback", "rerank", "threshold"):
                value = setting.get(
                    name, {"fallback": "probe", "rerank": "jaccard", "threshold": 0.0}[name]
                )
                setattr(shared, name, value)
                setattr(memory, name, value)
            for text in texts:
                assert shared.search({"description": text}) == memory.search(
                    {"description": text}
                ), (setting, text)
    assert shared.ids == memory.ids
    assert shared.examples == memory.examples
    assert shared.audit() == {"examples": len(corpus), "problems": []}


def test_two_selectors_see_each_others_writes(redis_url: str, index_name: str) -> None:
    first = redis_selector(redis_url, index_name, k=1)
    second = redis_selector(redis_url, index_name, k=1)
    new_id = first.add_example({"description": "rotate the log files every night", "function": "f"})
    hit = second.search({"description": "rotate the log files every night"})
    assert [h.id for h in hit] == [new_id]
    assert second.remove_example(new_id) == [new_id]
    assert first.search({"description": "rotate the log files every night"}) == []
    with pytest.raises(ExampleNotFoundError):
        first.remove_example(new_id)


def test_describe_index_names_the_shared_index(redis_url: str, index_name: str) -> None:
    info = redis_selector(redis_url, index_name, k=1).describe_index()
    assert (info["storage"], info["index_name"]) == ("redis", index_name)
    assert "index_bytes" not in info  # nothing of the index is held in this process


def test_a_new_process_serves_selections_from_redis_alone(redis_url: str, index_name: str) -> None:
    corpus = python_api_examples()[:500]
    redis_selector(redis_url, index_name, examples=corpus)
    code = (
        "import json, sys\n"
        "from langchain_niche import MinHashExampleSelector\n"
        f"s = MinHashExampleSelector(redis_url={redis_url!r}, index_name={index_name!r}, k=2)\n"
        "print(json.dumps([s.input_keys, len(s), s.select_examples({'description': sys.argv[1]})]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, corpus[3]["description"]],
        capture_output=True, text=True, timeout=120, check=True, cwd=ROOT,
    )  # fmt: skip
    input_keys, count, selected = json.loads(result.stdout)
    assert input_keys == ["description"]
    assert count == 500
    assert selected[0]["description"] == corpus[3]["description"]


async def test_256_concurrent_async_selections(redis_url: str, index_name: str) -> None:
    corpus = python_api_examples()[:1500]
    selector = redis_selector(redis_url, index_name, k=3, redis_max_connections=32)
    await selector.aadd_examples(corpus)
    inputs = [{"description": corpus[i * 5]["description"]} for i in range(256)]
    results = await asyncio.gather(*[selector.aselect_examples_with_scores(x) for x in inputs])
    assert len(results) == 256
    assert all(result and result[0][1] == 1.0 for result in results)
    assert await selector.asearch({"description": QUERIES[0]}) == selector.search(
        {"description": QUERIES[0]}
    )
    new_id = await selector.aadd_example({"description": "async writes too", "function": "g"})
    assert await selector.aremove_example(new_id) == [new_id]


def test_async_selections_in_several_event_loops(redis_url: str, index_name: str) -> None:
    selector = redis_selector(redis_url, index_name, examples=python_api_examples()[:50], k=1)
    for _ in range(3):  # a client per loop: no "attached to a different loop" errors
        assert asyncio.run(selector.aselect_examples({"description": QUERIES[1]}))


def test_few_shot_prompt_template_with_a_shared_index(redis_url: str, index_name: str) -> None:
    selector = redis_selector(redis_url, index_name, examples=python_api_examples(), k=2)
    prompt = FewShotPromptTemplate(
        example_selector=selector,
        example_prompt=PromptTemplate.from_template("{description} -> {function}"),
        suffix="{description} ->",
        input_variables=["description"],
    )
    text = prompt.format(description="Recursively delete a directory tree")
    assert "shutil.rmtree" in text
    assert asyncio.run(prompt.aformat(description="Recursively delete a directory tree")) == text


@pytest.mark.parametrize(
    ("override", "name"),
    [
        ({"num_perm": 64}, "num_perm"),
        ({"lsh_threshold": 0.7}, "lsh_threshold"),
        ({"seed": 5}, "seed"),
        ({"input_keys": ["function"]}, "input_keys"),
        ({"ngram_range": (1, 2)}, "ngram_range"),
    ],
)
def test_setting_mismatches_are_rejected(
    redis_url: str, index_name: str, override: dict[str, Any], name: str
) -> None:
    redis_selector(redis_url, index_name, examples=[{"description": "a b", "function": "c"}])
    settings: dict[str, Any] = {"input_keys": ["description"], **override}
    with pytest.raises(IndexFormatError, match=name) as info:
        MinHashExampleSelector(redis_url=redis_url, index_name=index_name, **settings)
    assert index_name in str(info.value)
    # unspecified settings are adopted from the shared index
    adopted = MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    assert (adopted.num_perm, adopted.lsh_threshold, adopted.seed) == (128, 0.5, 1)


def test_adopts_the_settings_of_an_existing_index(redis_url: str, index_name: str) -> None:
    redis_selector(
        redis_url, index_name, num_perm=64, lsh_threshold=0.7, seed=9, ngram_range=(1, 2)
    )
    adopted = MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    assert adopted.input_keys == ["description"]
    assert (adopted.num_perm, adopted.lsh_threshold, adopted.seed) == (64, 0.7, 9)
    assert adopted.ngram_range == (1, 2)


def test_new_index_needs_input_keys_and_no_exact_fallback(redis_url: str, index_name: str) -> None:
    with pytest.raises(InvalidParameterError, match="input_keys"):
        MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    with pytest.raises(InvalidParameterError, match="fallback"):
        redis_selector(redis_url, index_name, fallback="exact")
    selector = redis_selector(redis_url, index_name)
    with pytest.raises(InvalidParameterError, match="fallback"):
        selector.fallback = "exact"
    with pytest.raises(InvalidParameterError, match="in-memory"):
        selector.save("x.zip")


def test_custom_tokenizer_must_be_passed_again(redis_url: str, index_name: str) -> None:
    redis_selector(redis_url, index_name, tokenizer=str.split)
    with pytest.raises(IndexFormatError, match="tokenizer"):
        MinHashExampleSelector(redis_url=redis_url, index_name=index_name)
    again = MinHashExampleSelector(redis_url=redis_url, index_name=index_name, tokenizer=str.split)
    assert again.input_keys == ["description"]


def test_foreign_or_corrupt_data_is_rejected_not_unpickled(redis_url: str, index_name: str) -> None:
    selector = redis_selector(
        redis_url, index_name, examples=[{"description": "a b", "function": "c"}]
    )
    client = selector.storage.client  # type: ignore[attr-defined]
    client.hset(f"niche:{{{index_name}}}:doc", "0", b"\x80\x04\x95 pickled bytes")
    with pytest.raises(IndexFormatError, match="not JSON"):
        selector.search({"description": "a b"})
    other = f"{index_name}-other"
    client.set(f"niche:{{{other}}}:config", b'{"format": "something else"}')
    with pytest.raises(IndexFormatError, match="not a langchain-niche"):
        redis_selector(redis_url, other)


def test_ids_and_bad_examples(redis_url: str, index_name: str) -> None:
    first = redis_selector(redis_url, index_name)
    assert first.add_examples([{"description": "x y", "function": "1"}], ids=["a"]) == ["a"]
    with pytest.raises(DuplicateIdError, match="'a'"):
        first.add_examples([{"description": "z", "function": "2"}], ids=["a"])
    with pytest.raises(DuplicateIdError):
        first.add_examples([{"description": "z"}, {"description": "w"}], ids=["b", "b"])
    with pytest.raises(MissingKeyError, match="example 1"):
        first.add_examples([{"description": "fine"}, {"function": "no description"}])
    # a custom id that looks like a default id is skipped by later default ids
    first.add_examples([{"description": "digits", "function": "3"}], ids=["5"])
    new_ids = first.add_examples([{"description": f"t{i}"} for i in range(8)])
    assert "5" not in new_ids
    assert len(set(new_ids)) == 8
    assert len(first) == 10
    assert first.remove_example({"description": "digits", "function": "3"}) == ["5"]


def test_unreachable_redis_fails_fast_naming_the_url() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: connection refused
    url = f"redis://user:secret@127.0.0.1:{port}/0"
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError) as info:
        MinHashExampleSelector(redis_url=url, input_keys=["q"], redis_timeout=1)
    assert time.monotonic() - start < 5
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ConnectionError)


def test_a_server_that_never_answers_times_out() -> None:
    with SilentServer() as silent:
        start = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{silent.port}"):
            MinHashExampleSelector(
                redis_url=f"redis://127.0.0.1:{silent.port}/0", input_keys=["q"], redis_timeout=0.5
            )
    assert time.monotonic() - start < 5


def test_a_killed_writer_leaves_every_example_whole_or_absent(
    redis_url: str, index_name: str
) -> None:
    writer = start_writer(redis_url, index_name, 0, 20000, "k", 100)
    assert writer.stdout is not None
    for _ in range(5):  # let a few atomic steps land, then kill it mid-batch
        assert writer.stdout.readline().startswith("wrote")
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    writer.stdout.close()
    selector = redis_selector(redis_url, index_name, input_keys=["question"], k=1)
    report = selector.audit()
    assert report["problems"] == []
    count = report["examples"]
    assert 500 <= count < 20000
    assert count % 100 == 0  # whole steps only
    examples = synthetic_examples(0, count)
    for i in range(0, count, max(1, count // 40)):
        hit = selector.search({"question": examples[i]["question"]})
        assert hit[0].id == f"k{i}"
        assert hit[0].example == examples[i]
        assert hit[0].score == 1.0


def test_two_processes_inserting_concurrently_lose_nothing(redis_url: str, index_name: str) -> None:
    redis_selector(redis_url, index_name, input_keys=["question"])
    writers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.minhash_writer", redis_url, index_name, str(start), "1500", prefix, "50"],
            cwd=ROOT, stdout=subprocess.DEVNULL,
        )
        for start, prefix in ((0, "a"), (1500, "b"))
    ]  # fmt: skip
    assert [w.wait(timeout=240) for w in writers] == [0, 0]
    selector = redis_selector(redis_url, index_name, input_keys=["question"], k=1)
    assert selector.audit() == {"examples": 3000, "problems": []}
    assert set(selector.ids) == {f"a{i}" for i in range(1500)} | {
        f"b{i}" for i in range(1500, 3000)
    }
    examples = synthetic_examples(1490, 20)
    for offset, example in enumerate(examples):
        assert selector.search({"question": example["question"]})[0].example == example, offset


def test_redact_url() -> None:
    assert redact_url("redis://user:pw@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"
    assert redact_url("redis://h:1/0?password=x&db=2") == "redis://h:1/0?password=***&db=2"
    assert redact_url("redis://u:p#w@h/0") == "redis://u:***@h/0"
    assert redact_url("redis://u:p#w@h:99999/0") == "redis://u..."  # unparsable: cut


def test_readme_redis_example_runs(redis_url: str, index_name: str) -> None:
    # the README's Redis block runs as written (no top-level await, every name defined);
    # only the server's URL and the index name are replaced
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## MinHash-LSH selection for large corpora (Redis)") :]
    start = section.index("```py\n") + 6
    shared = section[start : section.index("```\n", start)]
    assert shared.count("redis://localhost:6379/0") == 2
    shared = shared.replace("redis://localhost:6379/0", redis_url).replace(
        '"tickets"', repr(index_name)
    )
    namespace: dict[str, Any] = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(shared, "README.md", "exec"), namespace)
    assert len(namespace["reader"]) == 3
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == lines[1]
    assert ast.literal_eval(lines[0])[0] == namespace["tickets"][0]


def test_many_equal_examples_do_not_hide_all_results(redis_url: str, index_name: str) -> None:
    # issue 10 item 7, in Redis: the probe script fills its budget with the first
    # members of a range too large to read whole
    examples, inputs = duplicate_heavy_corpus()
    shared = redis_selector(redis_url, index_name, examples=examples, input_keys=["q"], k=3)
    exact = JaccardExampleSelector(examples=examples, input_keys=["q"], k=3)
    memory = MinHashExampleSelector(examples=examples, input_keys=["q"], k=3)
    for x in inputs:
        expected = [(h.id, h.score) for h in exact.search(x)]
        assert [(h.id, h.score) for h in shared.search(x)] == expected, x
        assert shared.search(x) == memory.search(x)
    shared.fallback = "none"
    assert any(len(shared.search(x)) < 3 for x in inputs)  # the probe was needed
