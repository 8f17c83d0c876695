"""The shared runtime, through a real server process: health, request ids,
error details, metrics, logs and the SIGTERM drain."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from aimesh.llm.v1 import llm_pb2, llm_pb2_grpc
from tests.support import ServiceProcess

GRPCURL = str(Path(sys.executable).parent / "grpcurl")


def echo(env: dict[str, str] | None = None, **kwargs) -> ServiceProcess:
    return ServiceProcess("echo", env, module="tests.common.echo_app", **kwargs)


def generate(target: str, command: str, metadata=(), timeout: float = 10):
    with grpc.insecure_channel(target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        request = llm_pb2.GenerateRequest(messages=[llm_pb2.Message(role="user", content=command)])
        return stub.Generate.with_call(request, metadata=metadata, timeout=timeout)


@pytest.fixture(scope="module")
def service():
    with echo() as running:
        yield running


def test_health_follows_the_dependency(tmp_path):
    ready = tmp_path / "ready"
    with echo({"AIMESH_ECHO_READY_FILE": str(ready)}, wait_serving=False) as running:
        running.wait_for_health("NOT_SERVING")
        running.wait_for_health("NOT_SERVING", service="aimesh.llm.v1.LlmService")
        ready.touch()
        running.wait_for_health("SERVING")
        running.wait_for_health("SERVING", service="aimesh.llm.v1.LlmService")
        ready.unlink()
        running.wait_for_health("NOT_SERVING")
        assert 'aimesh_dependency_up{dependency="flag"} 0.0' in running.metrics_text()


def test_request_id_is_returned_and_propagated(service):
    response, call = generate(service.target, "request-id", metadata=[("x-request-id", "req-42")])
    assert response.text == "req-42"
    assert ("x-request-id", "req-42") in call.initial_metadata()

    # Without one, the server makes one and returns it.
    response, call = generate(service.target, "request-id")
    generated = dict(call.initial_metadata())["x-request-id"]
    assert len(generated) == 32

    # A malformed id is replaced rather than echoed into logs.
    for bad in ("has space", "x" * 200):
        _, call = generate(service.target, "request-id", metadata=[("x-request-id", bad)])
        assert dict(call.initial_metadata())["x-request-id"] != bad


def test_request_id_reaches_downstream_calls(service):
    with echo({"AIMESH_ECHO_UPSTREAM": service.target}) as front:
        response, _ = generate(front.target, "forward", metadata=[("x-request-id", "chain-7")])
    assert response.text == "chain-7"
    upstream_lines = [line for line in service.logs("rpc") if line.get("request_id") == "chain-7"]
    assert upstream_lines and upstream_lines[0]["code"] == "OK"


def test_invalid_argument_names_the_field(service):
    with pytest.raises(grpc.RpcError) as raised:
        generate(service.target, "invalid")
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(raised.value)
    assert status is not None
    kinds = {detail.type_url.rsplit(".", 1)[-1]: detail for detail in status.details}
    bad_request = error_details_pb2.BadRequest()
    kinds["BadRequest"].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "messages[0].content"
    info = error_details_pb2.ErrorInfo()
    kinds["ErrorInfo"].Unpack(info)
    assert info.reason == "INVALID_ARGUMENT" and info.domain == "aimesh.dev"


def test_a_bug_is_internal_without_trace_or_secret(service):
    with pytest.raises(grpc.RpcError) as raised:
        generate(service.target, "boom", metadata=[("x-request-id", "bug-1")])
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error; request id bug-1"
    assert "SECRET" not in str(raised.value.debug_error_string())
    # The operator sees it in the log, tied to the request.
    assert any(
        line.get("request_id") == "bug-1" and "Traceback" in line.get("exc", "")
        for line in service.logs("unhandled error")
    )


def test_unimplemented_methods_answer_unimplemented(service):
    with grpc.insecure_channel(service.target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.ListModels(llm_pb2.ListModelsRequest(), timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_metrics_and_access_log(service):
    generate(service.target, "hello", metadata=[("x-request-id", "metrics-1")])
    body = service.metrics_text()
    labels = 'grpc_method="Generate",grpc_service="aimesh.llm.v1.LlmService",grpc_type="unary"'
    assert f"grpc_server_started_total{{{labels}}}" in body
    assert f'grpc_server_handled_total{{grpc_code="OK",{labels}}}' in body
    assert f"grpc_server_handling_seconds_count{{{labels}}}" in body
    deadline = time.monotonic() + 5
    while not [line for line in service.logs("rpc") if line.get("request_id") == "metrics-1"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (line,) = [line for line in service.logs("rpc") if line.get("request_id") == "metrics-1"]
    assert line["method"] == "/aimesh.llm.v1.LlmService/Generate"
    assert line["code"] == "OK" and line["latency_ms"] >= 0 and line["service"] == "echo"


def test_stream_cancelled_by_the_client_is_cancelled_not_a_bug(service):
    """A client that goes away mid-stream: the call is logged CANCELLED, never as an
    unhandled error (grpc closes the response generator while a piece is on its way)."""
    request_ids = [f"cancel-{i}" for i in range(20)]
    request = llm_pb2.GenerateStreamRequest(messages=[llm_pb2.Message(role="user", content="go")])
    with grpc.insecure_channel(service.target) as channel:
        stub = llm_pb2_grpc.LlmServiceStub(channel)
        for request_id in request_ids:
            stream = stub.GenerateStream(
                request, metadata=[("x-request-id", request_id)], timeout=10
            )
            assert next(stream).text == "0"
            stream.cancel()
    deadline = time.monotonic() + 10

    def logged():
        return {
            line["request_id"]: line["code"]
            for line in service.logs("rpc")
            if line.get("request_id") in request_ids
        }

    while len(logged()) < len(request_ids):
        assert time.monotonic() < deadline, logged()
        time.sleep(0.05)
    assert set(logged().values()) == {"CANCELLED"}
    bugs = [
        line
        for line in service.lines
        if line.get("level") == "error"
        and (line.get("request_id") in request_ids or "Task exception" in line.get("msg", ""))
    ]
    assert not bugs, bugs[0]


def test_a_call_past_its_deadline_is_counted_as_deadline_exceeded(service):
    """grpc cancels the handler when the deadline passes; the log and the metric say
    DEADLINE_EXCEEDED, which operators alert on, not CANCELLED (a client going away)."""
    with pytest.raises(grpc.RpcError) as raised:
        generate(service.target, "sleep:2", metadata=[("x-request-id", "late-1")], timeout=0.3)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    deadline = time.monotonic() + 10
    while not [line for line in service.logs("rpc") if line.get("request_id") == "late-1"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    (line,) = [line for line in service.logs("rpc") if line.get("request_id") == "late-1"]
    assert line["code"] == "DEADLINE_EXCEEDED"
    assert 'grpc_code="DEADLINE_EXCEEDED",grpc_method="Generate"' in service.metrics_text()


def test_sigterm_drains_in_flight_call():
    running = echo({"AIMESH_ECHO_DRAIN_DELAY_SECONDS": "0.5"}).start()
    try:
        outcome: dict[str, object] = {}

        def slow_call() -> None:
            try:
                outcome["text"] = generate(running.target, "sleep:2", timeout=20)[0].text
            except grpc.RpcError as exc:  # pragma: no cover - reported by the assert
                outcome["error"] = exc.code()

        caller = threading.Thread(target=slow_call)
        caller.start()
        time.sleep(0.5)  # the call is in flight
        assert running.proc is not None
        running.proc.send_signal(15)
        running.wait_for_health("NOT_SERVING", timeout=5)
        caller.join(30)
        assert outcome == {"text": "slept"}
        assert running.terminate() == 0
        messages = [line["msg"] for line in running.lines]
        assert messages.index("draining") < messages.index("stopped")
    finally:
        running.kill()


@pytest.mark.parametrize("service_name", ["edge", "llm", "retrieval", "guardrails"])
def test_bad_setting_stops_the_start(service_name):
    variable = f"AIMESH_{service_name.upper()}_PORT"
    result = subprocess.run(
        [sys.executable, "-m", f"services.{service_name}"],
        env={"PATH": "/usr/bin:/bin", variable: "not-a-port"},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert variable in result.stderr and "not-a-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_misspelt_setting_stops_the_start():
    result = subprocess.run(
        [sys.executable, "-m", "tests.common.echo_app"],
        env={"PATH": "/usr/bin:/bin", "AIMESH_ECHO_PROT": "50051"},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 2
    assert "unknown setting AIMESH_ECHO_PROT" in result.stderr


def test_grpcurl_reflection_and_request_id(service):
    listing = subprocess.run(
        [GRPCURL, "-plaintext", service.target, "list"], capture_output=True, text=True, timeout=30
    )
    assert listing.returncode == 0, listing.stderr
    assert set(listing.stdout.split()) >= {"aimesh.llm.v1.LlmService", "grpc.health.v1.Health"}
    called = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-v",
            "-H",
            "x-request-id: curl-1",
            "-d",
            json.dumps({"messages": [{"role": "user", "content": "request-id"}]}),
            service.target,
            "aimesh.llm.v1.LlmService/Generate",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert called.returncode == 0, called.stderr
    assert "x-request-id: curl-1" in called.stdout
    assert (
        json.loads(called.stdout[called.stdout.index("{") : called.stdout.rindex("}") + 1])["text"]
        == "curl-1"
    )


def field_violations(error: grpc.RpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    fields = []
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            detail.Unpack(bad_request)
            fields += [violation.field for violation in bad_request.field_violations]
    return fields


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        # messages[0].content (GenerateRequest.messages = 2, Message.content = 2) is not UTF-8
        (b"\x12\x06\x0a\x00\x12\x02\xff\xfe", "messages[0].content"),
        (b"\x0a\x01x\x12\x00\x12\x06\x0a\x00\x12\x02\xc3\x28", "messages[1].content"),
        # a truncated length-delimited field: not a message at all
        (b"\x0a\x05ab", "request"),
    ],
)
def test_undecodable_request_is_invalid_argument(service, raw, field):
    with grpc.insecure_channel(service.target) as channel:
        generate_raw = channel.unary_unary(
            "/aimesh.llm.v1.LlmService/Generate",
            request_serializer=lambda data: data,
            response_deserializer=llm_pb2.GenerateResponse.FromString,
        )
        with pytest.raises(grpc.RpcError) as raised:
            generate_raw(raw, timeout=10)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(raised.value) == [field]
