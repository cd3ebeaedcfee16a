"""A local OpenAI-compatible chat-completions server for integration tests.

It listens on 127.0.0.1 (a free port), answers ``POST /v1/chat/completions``
from a script, and records every request. Replies can be plain text, tool calls
(when the request carries ``tools``), JSON (when it carries ``response_format``),
streamed as server-sent events (with the final usage chunk when the client asks
for ``stream_options.include_usage``), or HTTP errors.

A reply is computed by ``server.responder(request_json)``, which returns one of:

* ``str``: assistant text;
* ``{"tool_calls": [{"name": ..., "arguments": {...}}], "content": ...}``;
* ``{"status": 500, "error": "..."}``: an HTTP error.

Tests set ``server.responder`` or push replies with ``server.replies.append(...)``.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Responder = Callable[[dict[str, Any]], Any]


def _approx_tokens(text: str) -> int:
    return max(1, len(text.split()))


class _QuietServer(ThreadingHTTPServer):
    """Does not print a traceback when a client drops an idle keep-alive connection."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeOpenAIServer:
    """Scripted OpenAI-compatible server on loopback (start/stop or use as a context manager)."""

    def __init__(self, responder: Responder | None = None) -> None:
        self.responder = responder
        self.replies: deque[Any] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # silence
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append({k.lower(): v for k, v in self.headers.items()})
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send_json(404, {"error": {"message": f"unknown path {self.path}"}})
                    return
                try:
                    reply = server._reply_for(body)
                except Exception as exc:  # a broken script is a 500, visible in the test
                    self._send_json(500, {"error": {"message": f"responder failed: {exc!r}"}})
                    return
                if isinstance(reply, dict) and "status" in reply:
                    self._send_json(
                        int(reply["status"]),
                        {"error": {"message": reply.get("error", "error"), "type": "server_error"}},
                    )
                    return
                if isinstance(reply, dict) and reply.get("delay"):
                    time.sleep(float(reply["delay"]))
                message = server._message(body, reply)
                if body.get("stream"):
                    self._stream(body, message)
                else:
                    self._send_json(200, server._completion(body, message))

            def _send_json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, body: dict[str, Any], message: dict[str, Any]) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.send_header("Connection", "close")
                self.end_headers()
                base = {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": body.get("model", "gpt-test"),
                }

                def send(chunk: dict[str, Any]) -> None:
                    self.wfile.write(f"data: {json.dumps({**base, **chunk})}\n\n".encode())
                    self.wfile.flush()

                send(
                    {
                        "choices": [
                            {
                                "index": 0,
                                "delta": {"role": "assistant", "content": ""},
                                "finish_reason": None,
                            }
                        ]
                    }
                )
                content = message.get("content") or ""
                for piece in content.replace(" ", " \x00").split("\x00"):
                    if piece:
                        send(
                            {
                                "choices": [
                                    {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                                ]
                            }
                        )
                for i, call in enumerate(message.get("tool_calls") or []):
                    send(
                        {
                            "choices": [
                                {
                                    "index": 0,
                                    "delta": {
                                        "tool_calls": [
                                            {
                                                "index": i,
                                                "id": call["id"],
                                                "type": "function",
                                                "function": {
                                                    "name": call["function"]["name"],
                                                    "arguments": call["function"]["arguments"],
                                                },
                                            }
                                        ]
                                    },
                                    "finish_reason": None,
                                }
                            ]
                        }
                    )
                finish = "tool_calls" if message.get("tool_calls") else "stop"
                send({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (body.get("stream_options") or {}).get("include_usage"):
                    send({"choices": [], "usage": server._usage(body, message)})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.headers.clear()
            self.replies.clear()
        self.responder = None

    # -- replies ---------------------------------------------------------------------
    def _reply_for(self, body: dict[str, Any]) -> Any:
        with self._lock:
            if self.replies:
                return self.replies.popleft()
        if self.responder is not None:
            return self.responder(body)
        return "ok"

    @staticmethod
    def _message(body: dict[str, Any], reply: Any) -> dict[str, Any]:
        if isinstance(reply, str):
            return {"role": "assistant", "content": reply}
        calls = []
        for call in reply.get("tool_calls") or []:
            arguments = call["arguments"]
            calls.append(
                {
                    "id": call.get("id") or f"call_{uuid.uuid4().hex[:10]}",
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": arguments
                        if isinstance(arguments, str)
                        else json.dumps(arguments),
                    },
                }
            )
        message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
        if calls:
            message["tool_calls"] = calls
        return message

    @staticmethod
    def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
        prompt = sum(_approx_tokens(json.dumps(m.get("content"))) for m in body.get("messages", []))
        completion = _approx_tokens(json.dumps(message))
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _completion(self, body: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:10]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "gpt-test"),
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
                    "logprobs": None,
                }
            ],
            "usage": self._usage(body, message),
        }
