"""A saved plan's JSON: what `plan --out` writes, `show` and `apply` read back, and the errors."""

from __future__ import annotations

import gc
import json

import pytest

from ivrsync.errors import IvrsyncError
from ivrsync.plan.model import (
    Action,
    Desired,
    Plan,
    PlanWarning,
    ProviderRef,
    Reason,
    Recorded,
    ResourceChange,
    StateRef,
    Summary,
)
from tests.repo_factory import UPLOADED_AT


def sample_plan() -> Plan:
    """Every kind of field set, and text that is not ASCII."""
    desired = Desired(
        audio_path="audio/zh_CN/欢迎.wav",
        sha256="ab" * 32,
        size=48_000,
        remote_name="欢迎 welcome",
        attributes={"voice_type": "ivr", "file_type": "wav"},
    )
    recorded = Recorded(
        file_id="1182733043937561608",
        audio_path="audio/zh_CN/欢迎.wav",
        sha256="cd" * 32,
        size=40_000,
        remote_name="欢迎 welcome",
        attributes={"voice_type": "ivr"},
        review_status="approved",
    )
    return Plan(
        ivrsync_version="0.1.0",
        created_at=UPLOADED_AT,
        state=StateRef(lineage="945de96a-ae7e-45cb-95aa-279f6b5d93dd", serial=3),
        providers={"aicc": ProviderRef(type="huawei-aicc", settings_sha256="ef" * 32)},
        targets=["aicc.*"],
        summary=Summary(create=1, replace=1, no_op=2),
        changes=[
            ResourceChange(
                address="aicc.welcome.en_US",
                provider="aicc",
                provider_type="huawei-aicc",
                action=Action.CREATE,
                after=desired,
            ),
            ResourceChange(
                address="aicc.welcome.zh_CN",
                previous_address="aicc.hello.zh_CN",
                provider="aicc",
                provider_type="huawei-aicc",
                action=Action.REPLACE,
                reasons=[Reason(message="音频变了\tchanged", attribute="sha256")],
                before=recorded,
                after=desired,
            ),
        ],
        warnings=[PlanWarning(code="quota", message="close to the quota", provider="aicc")],
        files={"audio/zh_CN/欢迎.wav": "ab" * 32},
    )


def test_a_plan_reads_back_equal_from_bytes_or_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """In one pass of pydantic: json (slower) only words what is wrong with a bad plan."""
    monkeypatch.setattr(json, "loads", None)
    plan = sample_plan()
    text = plan.to_json()
    assert text.endswith("}\n")
    assert "欢迎" in text  # UTF-8, not \u escapes
    for data in (text, text.encode()):
        again = Plan.from_json(data, "plan.json")
        assert again == plan
        assert again.to_json() == text
    assert isinstance(Plan.from_json(text, "plan.json").changes[0].action, Action)


@pytest.mark.parametrize("data", [b"", b"not json", b'{"format_version": "1.0",', b"\xff"])
def test_a_plan_that_is_not_json_is_named_with_jsons_own_words(data: bytes) -> None:
    try:
        json.loads(data)
    except ValueError as exc:
        expected = f"plan.json is not a saved ivrsync plan (not JSON: {exc})"
    with pytest.raises(IvrsyncError) as raised:
        Plan.from_json(data, "plan.json")
    assert str(raised.value) == expected
    assert gc.isenabled()


def test_a_plan_without_its_format_version_is_refused() -> None:
    """The model's default version must not stand in for a missing one."""
    document = json.loads(sample_plan().to_json())
    del document["format_version"]
    for text in (json.dumps(document), '{"format_version": NaN}'):
        with pytest.raises(IvrsyncError, match=r"plan\.json is not a saved ivrsync plan \(no fo"):
            Plan.from_json(text, "plan.json")


def test_a_value_only_json_reads_is_judged_in_the_same_words() -> None:
    document = json.loads(sample_plan().to_json())
    document["changes"][0]["after"]["size"] = float("nan")
    with pytest.raises(IvrsyncError, match=r"\(changes\.0\.after\.size: Input should be a finite"):
        Plan.from_json(json.dumps(document), "plan.json")


def test_a_plan_of_another_major_version_or_shape_is_refused() -> None:
    document = json.loads(sample_plan().to_json())
    document["format_version"] = "2.0"
    with pytest.raises(IvrsyncError, match=r"plan of format 2\.0; this ivrsync reads 1\.x"):
        Plan.from_json(json.dumps(document), "plan.json")
    document["format_version"] = "1.7"  # a newer minor version: fields only added, read
    assert Plan.from_json(json.dumps(document), "plan.json").format_version == "1.7"
    document["changes"][1]["before"]["file_id"] = 1182733043937561608
    with pytest.raises(IvrsyncError, match=r"\(changes\.1\.before\.file_id: Input should be a"):
        Plan.from_json(json.dumps(document), "plan.json")
    assert gc.isenabled()
