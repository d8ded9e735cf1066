"""The scripted OpenAI-compatible server, exercised through the real client path.

Every call goes litellm -> openai SDK -> httpx -> HTTP -> StubLLMServer, so these tests also
pin down how this litellm version maps HTTP answers to exceptions, how it retries, and how
it prices a model it does not know: the facts the LLM agent is built on.
"""

from __future__ import annotations

import os

# Before litellm is imported: otherwise it tries to download its price map at import.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import litellm
import openai
import pytest
from litellm.litellm_core_utils.get_model_cost_map import get_model_cost_map_source_info

from .llm_stub import EXHAUSTED_MESSAGE, STREAM_MESSAGE, Reply, StubLLMServer

# litellm prints a "Give Feedback / Get Help" banner on every exception; noise in test logs.
litellm.suppress_debug_info = True

MODEL = "openai/stub-model"
MESSAGES = [{"role": "user", "content": "hello"}]
OPEN_TOOL = {
    "type": "function",
    "function": {
        "name": "open",
        "description": "Open a file",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string"}},
            "required": ["path"],
        },
    },
}


# litellm 1.106.2 imports its MCP gateway (which needs the `mcp` package, only in the
# litellm[proxy] extra) on every call that passes `tools`; this private kwarg skips that.
SKIP_MCP: dict[str, Any] = {"_skip_mcp_handler": True}


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def ask(server: StubLLMServer, model: str = MODEL, **kwargs: Any) -> Any:
    # max_retries=0: the openai SDK otherwise retries 429/5xx/timeouts twice on its own.
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("messages", MESSAGES)
    return litellm.completion(model=model, api_base=server.base_url, api_key="sk-test", **kwargs)


def http_json(url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """A bare HTTP call, for checking the wire format itself."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


# -- the cost map is local --------------------------------------------------------------


def test_litellm_loaded_its_local_cost_map() -> None:
    # Fails if some module imported litellm before LITELLM_LOCAL_MODEL_COST_MAP was set
    # (set it in conftest.py then): that import tried the network first.
    info = get_model_cost_map_source_info()
    assert info["source"] == "local" and info["is_env_forced"], info


# -- successful replies -------------------------------------------------------------------


def test_text_reply_and_recorded_request(stub: StubLLMServer) -> None:
    stub.push(Reply(content="Hi there."))
    response = ask(stub, temperature=0.0)

    assert response.choices[0].message.content == "Hi there."
    assert response.choices[0].finish_reason == "stop"
    assert response.choices[0].message.tool_calls is None
    [request] = stub.requests
    assert request["model"] == "stub-model"  # litellm strips the "openai/" provider prefix
    assert request["messages"] == MESSAGES
    assert request["temperature"] == 0.0
    assert stub.request_headers[0]["authorization"] == "Bearer sk-test"
    assert stub.status_counts == {200: 1}


def test_tool_call_reply(stub: StubLLMServer) -> None:
    stub.push(
        Reply(
            content="Let me look.",
            tool_calls=[
                {"name": "open", "arguments": {"path": "src/app.py"}},
                {"name": "open", "arguments": '{"path": broken'},  # sent as is
            ],
        )
    )
    response = ask(stub, tools=[OPEN_TOOL], tool_choice="auto", **SKIP_MCP)

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look."
    first, second = choice.message.tool_calls
    assert (first.id, first.type, first.function.name) == ("call_1", "function", "open")
    assert isinstance(first.function.arguments, str)  # a JSON string, as OpenAI sends it
    assert json.loads(first.function.arguments) == {"path": "src/app.py"}
    assert (second.id, second.function.arguments) == ("call_2", '{"path": broken')
    assert stub.requests[0]["tools"] == [OPEN_TOOL]
    assert stub.requests[0]["tool_choice"] == "auto"


def test_tool_result_round_trip_is_recorded(stub: StubLLMServer) -> None:
    stub.push(
        Reply(tool_calls=[{"name": "open", "arguments": {"path": "a.py"}}]), Reply(content="done")
    )
    first = ask(stub, tools=[OPEN_TOOL], **SKIP_MCP)
    call = first.choices[0].message.tool_calls[0]
    history = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "1: print('a')"},
    ]
    assert (
        ask(stub, tools=[OPEN_TOOL], messages=history, **SKIP_MCP).choices[0].message.content
        == "done"
    )

    sent = stub.requests[1]["messages"]
    assert sent[1]["role"] == "assistant" and sent[1]["tool_calls"][0]["id"] == "call_1"
    assert sent[2] == {"role": "tool", "tool_call_id": "call_1", "content": "1: print('a')"}


def test_usage_comes_through(stub: StubLLMServer) -> None:
    stub.push(Reply(content="x", prompt_tokens=1234, completion_tokens=56))
    usage = ask(stub).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1234, 56, 1290)


def test_finish_reason_length(stub: StubLLMServer) -> None:
    stub.push(Reply(content="trunc", finish_reason="length"))
    assert ask(stub).choices[0].finish_reason == "length"


def test_api_base_without_v1(stub: StubLLMServer) -> None:
    stub.push(Reply(content="no prefix"))
    response = litellm.completion(
        model=MODEL,
        api_base=stub.base_url.removesuffix("/v1"),
        api_key="sk-test",
        messages=MESSAGES,
        max_retries=0,
    )
    assert response.choices[0].message.content == "no prefix"


def test_models_listing_through_openai_sdk(stub: StubLLMServer) -> None:
    client = openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)
    assert [m.id for m in client.models.list()] == ["stub-model"]


# -- errors: the exact litellm class per answer ---------------------------------------------

# (reply, exact class raised, status_code on the exception). Found with litellm 1.106.2.
ERROR_CASES: dict[str, tuple[Reply, type[Exception], int]] = {
    "429": (
        Reply(status=429, error_message="slow down", headers={"retry-after": "0"}),
        litellm.RateLimitError,
        429,
    ),
    "500": (Reply(status=500, error_message="boom"), litellm.InternalServerError, 500),
    "502": (Reply(status=502, error_message="bad gateway"), litellm.BadGatewayError, 502),
    "503": (Reply(status=503, error_message="overloaded"), litellm.ServiceUnavailableError, 503),
    "401": (Reply(status=401, error_message="bad key"), litellm.AuthenticationError, 401),
    # No PermissionDeniedError: a 403 from an openai-compatible server becomes the generic APIError.
    "403": (Reply(status=403, error_message="forbidden"), litellm.APIError, 403),
    "404": (Reply(status=404, error_message="no such model"), litellm.NotFoundError, 404),
    "400": (Reply(status=400, error_message="bad request"), litellm.BadRequestError, 400),
    "422": (Reply(status=422, error_message="unprocessable"), litellm.BadRequestError, 422),
    "400 context_length_exceeded": (
        Reply(status=400, error_code="context_length_exceeded"),
        litellm.ContextWindowExceededError,
        400,
    ),
    # litellm reads the message, not the code: a code with other wording is a plain 400.
    "400 context code, other wording": (
        Reply(status=400, error_code="context_length_exceeded", error_message="prompt too big"),
        litellm.BadRequestError,
        400,
    ),
    "malformed JSON body": (
        Reply(raw_body='{"choices": [ not json'),
        litellm.InternalServerError,
        500,
    ),
    "JSON body without choices": (Reply(raw_body="{}"), litellm.InternalServerError, 500),
}

RETRY_OFF = [{"max_retries": 0}, {"num_retries": 0}, {"max_retries": 0, "num_retries": 0}]


@pytest.mark.parametrize("retry_off", RETRY_OFF, ids=lambda kw: ",".join(kw))
@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_error_maps_to_exact_litellm_class(
    stub: StubLLMServer, case: str, retry_off: dict[str, int]
) -> None:
    reply, expected, status_code = ERROR_CASES[case]
    stub.push(reply, Reply(content="a retry would get this"))
    with pytest.raises(Exception) as caught:
        litellm.completion(
            model=MODEL, api_base=stub.base_url, api_key="sk-test", messages=MESSAGES, **retry_off
        )

    assert caught.type is expected, (
        f"{case}: {caught.type.__module__}.{caught.type.__qualname__}: {caught.value}"
    )
    assert caught.value.status_code == status_code  # type: ignore[attr-defined]
    assert len(stub.requests) == 1, "litellm or the openai SDK retried"
    assert stub.remaining == 1


def test_error_classes_share_only_openai_base() -> None:
    # What a caller can catch: every mapped class is an openai.APIError, but litellm.APIError
    # and litellm.APIConnectionError are siblings, not bases, of most of them.
    classes = {cls for _, cls, _ in ERROR_CASES.values()} | {litellm.Timeout}
    assert all(issubclass(cls, openai.APIError) for cls in classes)
    transient = (
        litellm.RateLimitError,
        litellm.InternalServerError,
        litellm.BadGatewayError,
        litellm.ServiceUnavailableError,
        litellm.Timeout,
    )
    assert not any(issubclass(cls, litellm.APIError) for cls in transient)
    assert not issubclass(litellm.Timeout, litellm.APIConnectionError)
    assert issubclass(litellm.Timeout, openai.APITimeoutError)
    assert issubclass(litellm.ContextWindowExceededError, litellm.BadRequestError)


def test_slow_reply_times_out_once(stub: StubLLMServer) -> None:
    stub.push(Reply(content="late", delay_s=3.0))
    started = time.monotonic()
    with pytest.raises(litellm.Timeout) as caught:
        ask(stub, timeout=0.5)
    assert caught.type is litellm.Timeout
    assert time.monotonic() - started < 2.0
    assert len(stub.requests) == 1


def test_connection_refused_is_an_internal_server_error() -> None:
    # Not litellm.APIConnectionError, as one might expect: a server that is down looks like a 500.
    server = StubLLMServer().start()
    base_url = server.base_url
    server.stop()
    with pytest.raises(Exception) as caught:
        litellm.completion(
            model=MODEL, api_base=base_url, api_key="sk-test", messages=MESSAGES, max_retries=0
        )
    assert caught.type is litellm.InternalServerError
    assert "Connection error" in str(caught.value)


def test_without_max_retries_the_sdk_retries_twice(stub: StubLLMServer) -> None:
    # Why every call in agentenv must pass max_retries=0: the default is three requests.
    stub.push(*[Reply(status=500, error_message="boom")] * 3)
    with pytest.raises(litellm.InternalServerError):
        litellm.completion(
            model=MODEL, api_base=stub.base_url, api_key="sk-test", messages=MESSAGES
        )
    assert len(stub.requests) == 3
    assert stub.status_counts == {500: 3}


def test_exhausted_script_fails_loudly(stub: StubLLMServer) -> None:
    with pytest.raises(litellm.InternalServerError, match=EXHAUSTED_MESSAGE):
        ask(stub)
    assert stub.status_counts == {500: 1}


def test_stream_is_refused(stub: StubLLMServer) -> None:
    stub.push(Reply(content="never sent"))
    with pytest.raises(litellm.BadRequestError, match=STREAM_MESSAGE.split(":")[0]):
        ask(stub, stream=True)
    assert stub.requests[0]["stream"] is True
    assert stub.remaining == 1  # the refusal consumed no scripted reply


# -- the wire format --------------------------------------------------------------------------


def test_error_body_and_headers_on_the_wire(stub: StubLLMServer) -> None:
    stub.push(
        Reply(
            status=429,
            error_message="slow down",
            error_code="rate_limit_exceeded",
            headers={"retry-after": "7"},
        )
    )
    status, headers, body = http_json(
        f"{stub.base_url}/chat/completions", {"model": "m", "messages": MESSAGES}
    )
    assert status == 429
    assert headers["retry-after"] == "7"
    assert body["error"] == {
        "message": "slow down",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }


def test_completion_object_on_the_wire(stub: StubLLMServer) -> None:
    stub.push(
        Reply(
            tool_calls=[{"name": "open", "arguments": {"path": "x"}}],
            prompt_tokens=7,
            completion_tokens=3,
        )
    )
    status, _, body = http_json(
        f"{stub.base_url}/chat/completions", {"model": "m", "messages": MESSAGES}
    )
    assert status == 200
    assert body["object"] == "chat.completion" and body["model"] == "stub-model"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "open", "arguments": '{"path": "x"}'},
            }
        ],
    }
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    status, _, listing = http_json(f"{stub.base_url}/models")
    assert status == 200 and listing["data"][0]["id"] == "stub-model"


def test_unknown_route_and_bad_request_body(stub: StubLLMServer) -> None:
    assert http_json(f"{stub.base_url}/embeddings", {"input": "x"})[0] == 404
    assert http_json(f"{stub.base_url}/chat/completions", ["not", "an", "object"])[0] == 400
    assert stub.requests == []


# -- scripts ------------------------------------------------------------------------------------


def test_push_and_set_script(stub: StubLLMServer) -> None:
    stub.push(Reply(content="one"))
    stub.push(Reply(content="two"), Reply(content="three"))
    assert [ask(stub).choices[0].message.content for _ in range(2)] == ["one", "two"]
    stub.set_script([Reply(content="replaced")])
    assert ask(stub).choices[0].message.content == "replaced"
    assert stub.remaining == 0


def test_router_answers_concurrent_requests_by_content() -> None:
    def route(request: dict[str, Any]) -> Reply:
        task = request["messages"][-1]["content"]
        return Reply(content=f"fix for {task}", delay_s=0.05)

    with StubLLMServer(route) as server:
        answers: dict[str, str] = {}

        def run(task: str) -> None:
            answers[task] = (
                ask(server, messages=[{"role": "user", "content": task}]).choices[0].message.content
            )

        threads = [threading.Thread(target=run, args=(f"task-{i}",)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert answers == {f"task-{i}": f"fix for task-{i}" for i in range(8)}
        assert len(server.requests) == 8
        assert server.status_counts == {200: 8}
        with pytest.raises(RuntimeError):
            server.push(Reply())  # a router has no queue to append to


def test_router_that_raises_fails_the_call(stub: StubLLMServer) -> None:
    def route(request: dict[str, Any]) -> Reply:
        raise KeyError("no task matches")

    stub.set_script(route)
    with pytest.raises(litellm.InternalServerError, match="stub script raised KeyError"):
        ask(stub)


def test_stop_does_not_wait_for_a_sleeping_reply() -> None:
    server = StubLLMServer([Reply(content="late", delay_s=5.0)]).start()
    with pytest.raises(litellm.Timeout):
        ask(server, timeout=0.3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    with pytest.raises(RuntimeError):
        _ = server.base_url

