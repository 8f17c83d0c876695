from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_ALLOW: _ClassVar[Verdict]
    VERDICT_REDACT: _ClassVar[Verdict]
    VERDICT_BLOCK: _ClassVar[Verdict]

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_REPORT: _ClassVar[Action]
    ACTION_REDACT: _ClassVar[Action]
    ACTION_BLOCK: _ClassVar[Action]

class Source(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_UNSPECIFIED: _ClassVar[Source]
    SOURCE_USER: _ClassVar[Source]
    SOURCE_DOCUMENT: _ClassVar[Source]
VERDICT_UNSPECIFIED: Verdict
VERDICT_ALLOW: Verdict
VERDICT_REDACT: Verdict
VERDICT_BLOCK: Verdict
ACTION_UNSPECIFIED: Action
ACTION_REPORT: Action
ACTION_REDACT: Action
ACTION_BLOCK: Action
SOURCE_UNSPECIFIED: Source
SOURCE_USER: Source
SOURCE_DOCUMENT: Source

class Finding(_message.Message):
    __slots__ = ("type", "start", "end", "score", "detector", "action", "placeholder", "message")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    DETECTOR_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    type: str
    start: int
    end: int
    score: float
    detector: str
    action: Action
    placeholder: str
    message: str
    def __init__(self, type: _Optional[str] = ..., start: _Optional[int] = ..., end: _Optional[int] = ..., score: _Optional[float] = ..., detector: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., placeholder: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class Policy(_message.Message):
    __slots__ = ("actions", "disabled_detectors", "min_score")
    class ActionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: Action
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[Action, str]] = ...) -> None: ...
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    DISABLED_DETECTORS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    actions: _containers.ScalarMap[str, Action]
    disabled_detectors: _containers.RepeatedScalarFieldContainer[str]
    min_score: float
    def __init__(self, actions: _Optional[_Mapping[str, Action]] = ..., disabled_detectors: _Optional[_Iterable[str]] = ..., min_score: _Optional[float] = ...) -> None: ...

class CheckInputRequest(_message.Message):
    __slots__ = ("text", "tenant", "source", "policy")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    text: str
    tenant: str
    source: Source
    policy: Policy
    def __init__(self, text: _Optional[str] = ..., tenant: _Optional[str] = ..., source: _Optional[_Union[Source, str]] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class CheckInputResponse(_message.Message):
    __slots__ = ("verdict", "findings", "redacted_text", "reason")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    REDACTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    redacted_text: str
    reason: str
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., redacted_text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CheckOutputRequest(_message.Message):
    __slots__ = ("text", "tenant", "system_prompt", "canary", "json_schema", "policy")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_PROMPT_FIELD_NUMBER: _ClassVar[int]
    CANARY_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    text: str
    tenant: str
    system_prompt: str
    canary: str
    json_schema: str
    policy: Policy
    def __init__(self, text: _Optional[str] = ..., tenant: _Optional[str] = ..., system_prompt: _Optional[str] = ..., canary: _Optional[str] = ..., json_schema: _Optional[str] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class CheckOutputResponse(_message.Message):
    __slots__ = ("verdict", "findings", "redacted_text", "reason")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    REDACTED_TEXT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    redacted_text: str
    reason: str
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ..., redacted_text: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RedactStreamRequest(_message.Message):
    __slots__ = ("text", "tenant", "policy")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    text: str
    tenant: str
    policy: Policy
    def __init__(self, text: _Optional[str] = ..., tenant: _Optional[str] = ..., policy: _Optional[_Union[Policy, _Mapping]] = ...) -> None: ...

class RedactStreamResponse(_message.Message):
    __slots__ = ("text", "findings")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    text: str
    findings: _containers.RepeatedCompositeFieldContainer[Finding]
    def __init__(self, text: _Optional[str] = ..., findings: _Optional[_Iterable[_Union[Finding, _Mapping]]] = ...) -> None: ...
