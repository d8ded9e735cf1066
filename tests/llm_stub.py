"""A scripted OpenAI-compatible chat-completions server for tests.

Tests of the LLM agent talk to this over real HTTP, with litellm pointed at `base_url`
through `api_base`, so the whole client path (litellm, the openai SDK, httpx, error
mapping) runs as it does against a provider. Each request consumes the next scripted
`Reply`; a callable script picks the reply from the request instead (routing by content).

    with StubLLMServer([Reply(content="hi")]) as server:
        litellm.completion(model="openai/stub-model", api_base=server.base_url,
                           api_key="sk-test", messages=[...], max_retries=0)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

# litellm fetches its price map from the internet when imported unless this is set; a test
# that imports this module before litellm gets the local copy and no network attempt.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

EXHAUSTED_MESSAGE = "stub script exhausted"
STREAM_MESSAGE = "stub server does not stream: send stream=false"
# litellm recognises a context-window error by this wording in the message, not by the
# "code" field, so a Reply with only error_code="context_length_exceeded" borrows OpenAI's.
CONTEXT_LENGTH_MESSAGE = (
    "This model's maximum context length is 8192 tokens. However, your messages resulted in "
    "9000 tokens. Please reduce the length of the messages."
)

# OpenAI's error "type" per status, so clients that look at the body see familiar values.
_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass
class Reply:
    """One scripted response."""

    content: str | None = None
    # [{"name": ..., "arguments": dict or raw str}] -> OpenAI tool_calls with ids "call_<n>".
    tool_calls: list[dict[str, Any]] | None = None
    # Non-200 answers carry an OpenAI-style {"error": {"message", "type", "code"}} body.
    status: int = 200
    error_message: str = ""
    # e.g. "context_length_exceeded" (status 400): with no error_message, OpenAI's wording is
    # sent, which is what makes litellm raise ContextWindowExceededError.
    error_code: str | None = None
    delay_s: float = 0.0
    prompt_tokens: int = 100
    completion_tokens: int = 20
    # Sent verbatim with `status`, for malformed or unusual bodies.
    raw_body: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Defaults to "tool_calls" when there are tool calls, else "stop"; "length" tests truncation.
    finish_reason: str | None = None


Script = Iterable[Reply] | Callable[[dict[str, Any]], Reply]


class StubLLMServer:
    """Serves scripted replies on 127.0.0.1 from a background thread."""

    def __init__(self, script: Script = (), *, model: str = "stub-model") -> None:
        self.model = model
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._router: Callable[[dict[str, Any]], Reply] | None = None
        self._requests: list[dict[str, Any]] = []
        self._request_headers: list[dict[str, str]] = []
        self._status_counts: Counter[int] = Counter()
        self._next_call_id = 0
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.set_script(script)

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        # Port 0: the OS picks a free port, so parallel tests never collide.
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        # A client that timed out leaves its handler sleeping; it must not block stop().
        httpd.daemon_threads = True
        self._httpd = httpd
        # A short poll interval: shutdown() waits for the next poll, and tests stop servers often.
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="stub-llm-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("StubLLMServer is not started")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    # -- script --------------------------------------------------------------------------

    def push(self, *replies: Reply) -> None:
        with self._lock:
            if self._router is not None:
                raise RuntimeError("the script is a callable; use set_script to replace it")
            self._queue.extend(replies)

    def set_script(self, script: Script) -> None:
        with self._lock:
            if callable(script):
                self._router, self._queue = script, deque()
            else:
                self._router, self._queue = None, deque(script)

    @property
    def remaining(self) -> int:
        """Replies not yet consumed (0 for a callable script)."""
        with self._lock:
            return len(self._queue)

    # -- what was received ---------------------------------------------------------------

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every chat-completions request body, in order (a snapshot copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def request_headers(self) -> list[dict[str, str]]:
        """Headers of each request in `requests`, lower-cased names (e.g. "authorization")."""
        with self._lock:
            return list(self._request_headers)

    @property
    def status_counts(self) -> dict[int, int]:
        """How many chat-completions answers were sent with each HTTP status."""
        with self._lock:
            return dict(self._status_counts)

    # -- internals used by the handler ---------------------------------------------------

    def _record(self, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._lock:
            self._requests.append(body)
            self._request_headers.append(headers)

    def _count(self, status: int) -> None:
        with self._lock:
            self._status_counts[status] += 1

    def _next_reply(self, body: dict[str, Any]) -> Reply:
        with self._lock:
            router = self._router
            if router is None:
                if not self._queue:
                    return Reply(status=500, error_message=EXHAUSTED_MESSAGE)
                return self._queue.popleft()
        # Outside the lock: a router may be slow or call push/requests itself.
        try:
            return router(body)
        # A broken router must fail the test loudly, not hang it.
        except Exception as exc:  # noqa: BLE001
            return Reply(
                status=500, error_message=f"stub script raised {type(exc).__name__}: {exc}"
            )

    def _call_id(self) -> str:
        with self._lock:
            self._next_call_id += 1
            return f"call_{self._next_call_id}"

    def _completion(self, reply: Reply) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": self._call_id(),
                    "type": "function",
                    "function": {
                        "name": call["name"],
                        "arguments": _arguments_text(call.get("arguments", {})),
                    },
                }
                for call in reply.tool_calls
            ]
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        return {
            "id": f"chatcmpl-stub-{time.monotonic_ns()}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
            ],
            "usage": {
                "prompt_tokens": reply.prompt_tokens,
                "completion_tokens": reply.completion_tokens,
                "total_tokens": reply.prompt_tokens + reply.completion_tokens,
            },
        }


def _arguments_text(arguments: Any) -> str:
    # OpenAI sends arguments as a JSON string; a raw string lets tests send broken JSON.
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _make_handler(server: StubLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1 keep-alive, as httpx expects from a real provider; every answer sets
        # Content-Length so the connection can be reused.
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest output clean

        def do_GET(self) -> None:
            if self._route() in ("/v1/models", "/models"):
                listing = {
                    "object": "list",
                    "data": [
                        {"id": server.model, "object": "model", "created": 0, "owned_by": "stub"}
                    ],
                }
                self._send(200, json.dumps(listing))
            else:
                self._send(404, json.dumps(error_body(404, f"no route GET {self.path}")))

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self._route() not in ("/v1/chat/completions", "/chat/completions"):
                self._send(404, json.dumps(error_body(404, f"no route POST {self.path}")))
                return
            try:
                body = json.loads(raw)
            except ValueError as exc:
                self._answer(Reply(status=400, error_message=f"request body is not JSON: {exc}"))
                return
            if not isinstance(body, dict):
                self._answer(Reply(status=400, error_message="request body must be a JSON object"))
                return
            server._record(body, {k.lower(): v for k, v in self.headers.items()})
            # Streaming is out of scope; saying so beats answering in a shape the client
            # won't parse.
            if body.get("stream"):
                self._answer(Reply(status=400, error_message=STREAM_MESSAGE))
                return
            self._answer(server._next_reply(body))

        def _route(self) -> str:
            return self.path.split("?", 1)[0].rstrip("/")

        def _answer(self, reply: Reply) -> None:
            if reply.delay_s > 0:
                time.sleep(reply.delay_s)
            if reply.raw_body is not None:
                text = reply.raw_body
            elif reply.status == 200:
                text = json.dumps(server._completion(reply))
            else:
                message = reply.error_message
                if not message and reply.error_code == "context_length_exceeded":
                    message = CONTEXT_LENGTH_MESSAGE
                text = json.dumps(error_body(reply.status, message, reply.error_code))
            server._count(reply.status)
            self._send(reply.status, text, reply.headers)

        def _send(self, status: int, text: str, headers: dict[str, str] | None = None) -> None:
            data = text.encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nobody is left to tell.
                self.close_connection = True

    return Handler
