"""Anthropic Messages on AWS Bedrock as the harness speaks it (REAL-STREAMS.md, Bedrock).

``POST /model/{modelId}/invoke-with-response-stream`` streams AWS event-stream messages
(``application/vnd.amazon.eventstream``): each Anthropic event of the stream (the same events as
``anthropic_messages`` renders, less its pings) is the base64 ``bytes`` of one ``chunk`` event,
and the last one (``message_stop``) also carries ``amazon-bedrock-invocationMetrics``.
``POST /model/{modelId}/invoke`` answers the Anthropic message JSON. The request body is the
Anthropic one with an ``anthropic_version`` (``bedrock-2023-05-31``; later SDKs send newer ones), without ``model`` (it is in the path,
URL-encoded) and ``stream`` (the path says it). HTTP errors are ``{"message": ...}`` with the
exception's name in ``x-amzn-ErrorType``; a mid-stream error is a ``:message-type: exception``
message (``modelStreamErrorException`` unless a ``style`` names another). Request ids come in
``x-amzn-requestid``. The emulator takes any SigV4 signature: it checks none.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import orjson

from ..replies import Reply, RequestShape
from ..wire import ErrorReply, WireContext
from . import HarnessFormat
from .anthropic_messages import messages_events, messages_json, messages_request
from .eventstream_encode import chunk_frame, documents, encode_raw, exception_frame, rewrapped, split_message

BEDROCK_VERSION = "bedrock-2023-05-31"
EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"
_PATH = re.compile(r"/model/(?P<model>[^/]+)/(?P<action>invoke|invoke-with-response-stream)/?$")

# Bedrock's HTTP exceptions and their statuses (the service's API reference).
EXCEPTIONS: dict[str, int] = {
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "ModelErrorException": 424,
    "ThrottlingException": 429,
    "InternalServerException": 500,
    "ServiceUnavailableException": 503,
}
# The exceptions a stream may end with, as ``:exception-type`` names them.
STREAM_EXCEPTIONS = (
    "modelStreamErrorException",
    "throttlingException",
    "internalServerException",
    "serviceUnavailableException",
    "validationException",
)
_STREAM_MESSAGES = {
    "modelStreamErrorException": "The model encountered an error while streaming the response.",
    "throttlingException": "Too many tokens, please wait before trying again.",
    "internalServerException": "The system encountered an unexpected error during processing. Try your request again.",
    "serviceUnavailableException": "Bedrock is unable to process your request.",
    "validationException": "Input is too long for requested model.",
}
# Error kind -> (exception, message). A bad key fails SigV4 before Bedrock itself is reached: the
# signing service's UnrecognizedClientException, a 403. Bedrock bills through AWS, so running out
# of credit shows as access denied to the model's Marketplace offer.
_ERRORS: dict[str, tuple[str, int, str]] = {
    "bad_key": ("UnrecognizedClientException", 403, "The security token included in the request is invalid."),
    "unknown_model": ("ValidationException", 400, "The provided model identifier is invalid."),
    "context_overflow": ("ValidationException", 400, "Input is too long for requested model."),
    "rate_limit": ("ThrottlingException", 429, "Too many requests, please wait before trying again."),
    "quota": (
        "AccessDeniedException",
        403,
        "Model access is denied due to IAM user or service role is not authorized to perform the "
        "required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) "
        "to enable access to this model.",
    ),
    "server_error": (
        "InternalServerException",
        500,
        "The system encountered an unexpected error during processing. Try your request again.",
    ),
    "unavailable": ("ServiceUnavailableException", 503, "Bedrock is unable to process your request."),
    "overloaded": ("ServiceUnavailableException", 503, "The model is currently overloaded. Try again later."),
}


def exception_reply(exception: str, message: str) -> ErrorReply:
    """The HTTP error Bedrock answers with ``exception`` (one of ``EXCEPTIONS``, or another name
    with its status given by ``_ERRORS``)."""
    status = EXCEPTIONS.get(exception) or next(s for e, s, _ in _ERRORS.values() if e == exception)
    return ErrorReply(status, {"message": message}, ((ERROR_TYPE_HEADER, exception),))


def _sse_documents(events: list[bytes]) -> list[dict[str, Any]]:
    """The JSON of each rendered SSE event, pings left out (Bedrock sends none)."""
    documents = []
    for event in events:
        data = event[event.index(b"data: ") + 6 :].strip()
        document = orjson.loads(data)
        if document.get("type") != "ping":
            documents.append(document)
    return documents


def _bedrock_id(message_id: str) -> str:
    return "msg_bdrk_" + message_id.removeprefix("msg_")


class BedrockMessages(HarnessFormat):
    name = "bedrock_messages"
    api = "messages"
    provider = "bedrock"
    framing = "eventstream"
    content_type = EVENTSTREAM_CONTENT_TYPE
    request_id_header = "x-amzn-requestid"
    default_model = "anthropic.claude-sonnet-4-5-20250929-v1:0"
    unknown_model = "anthropic.claude-does-not-exist-v1:0"
    canonical_host = "bedrock-runtime.us-east-1.amazonaws.com"
    key_env = "AWS_SECRET_ACCESS_KEY"
    routes = "/model/{modelId}/invoke-with-response-stream, /model/{modelId}/invoke"
    styles = STREAM_EXCEPTIONS

    def render_events(self, reply: Reply, ctx: WireContext) -> list[bytes]:
        documents = _sse_documents(messages_events(reply, ctx))
        start = documents[0]
        start["message"]["id"] = _bedrock_id(start["message"]["id"])
        first_byte = ctx.rng.randint(180, 900)
        metrics = {
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": reply.usage.input_tokens,
                "outputTokenCount": reply.usage.output_tokens,
                "invocationLatency": first_byte + 12 * len(documents),
                "firstByteLatency": first_byte,
            }
        }
        frames = [chunk_frame(document) for document in documents[:-1]]
        return [*frames, chunk_frame(documents[-1], metrics)]

    def render_json(self, reply: Reply, ctx: WireContext) -> dict[str, Any]:
        body = messages_json(reply, ctx)
        body["id"] = _bedrock_id(body["id"])
        return body

    def new_request_id(self) -> str:
        return str(uuid.uuid4())

    def _error(self, kind: str, model: str, request_id: str) -> ErrorReply:
        exception, status, message = _ERRORS[kind]
        return ErrorReply(status, {"message": message}, ((ERROR_TYPE_HEADER, exception),))

    def invalid_request(self, message: str, request_id: str = "", param: str | None = None) -> ErrorReply:
        return exception_reply("ValidationException", message)

    def midstream_error(self, body: bytes, offset: int, kept: int, style: str | None) -> bytes:
        exception = style or "modelStreamErrorException"
        return exception_frame(exception, _STREAM_MESSAGES[exception])

    def carries_data(self, event: bytes) -> bool:
        return True  # every event-stream message is a chunk or an exception

    def is_keepalive(self, event: bytes) -> bool:
        return False

    def broken(self, event: bytes) -> bytes | None:
        """The message re-framed (its CRCs right) with its JSON payload cut in half: the framing
        reads it, the payload's parser must notice."""
        parts = split_message(event)
        if parts is None:
            return None
        headers, payload = parts
        return encode_raw(headers, payload[: max(1, len(payload) // 2)])

    def inner_documents(self, body: bytes) -> list[bytes] | None:
        return documents(body)

    def rewrapped(self, body: bytes, documents: list[bytes]) -> tuple[bytes, list[tuple[int, int, int]]]:
        return rewrapped(body, documents)

    def request_kwargs(self, shape: RequestShape, model: str) -> dict[str, Any]:
        return messages_request(shape, model)  # the SDK moves model and stream into the path

    def wire_body(self, shape: RequestShape) -> dict[str, Any]:
        """The request body as it goes over the wire."""
        body = {k: v for k, v in messages_request(shape, "").items() if k not in ("model", "stream")}
        return {"anthropic_version": BEDROCK_VERSION, **body}

    def model_of(self, payload: Mapping[str, Any], path: str) -> Any:
        match = _PATH.search(path)
        return unquote(match["model"]) if match else None

    def is_streamed(self, payload: Mapping[str, Any], path: str) -> bool:
        match = _PATH.search(path)
        return match is not None and match["action"] == "invoke-with-response-stream"

    def request_problem(self, payload: Mapping[str, Any]) -> str | None:
        if not isinstance(payload.get("anthropic_version"), str):  # its value varies with the SDK
            return "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again."
        if "model" in payload or "stream" in payload:
            extra = ", ".join(k for k in ("model", "stream") if k in payload)
            return f"Malformed input request: #: extraneous key [{extra}] is not permitted, please reformat your input and try again."
        if not isinstance(payload.get("max_tokens"), int):
            return "Malformed input request: #: required key [max_tokens] not found, please reformat your input and try again."
        return None

    def canonical_path(self, path: str) -> str:
        match = _PATH.search(path)
        return match.group(0) if match else path

    def client(self, *, key: str, base_url: str | None, source: str, http_client: Any) -> Any:
        import anthropic

        # the access key id, session token and region as the AWS tools read them; the emulator
        # needs none of them to be real, only present for the SDK to sign with
        access_key = os.environ.get("AWS_ACCESS_KEY_ID") or ("AKIDSTREAMPROOFDUMMY" if source == "emulator" else None)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        return anthropic.AnthropicBedrock(
            aws_access_key=access_key,
            aws_secret_key=key,
            aws_session_token=os.environ.get("AWS_SESSION_TOKEN") or None,
            aws_region=region,
            base_url=base_url,
            http_client=http_client,
            max_retries=0,
        )

    def open_stream(self, client: Any, request: dict[str, Any], headers: dict[str, str]) -> Any:
        return client.messages.create(**request, extra_headers=headers)


FORMAT = BedrockMessages()
