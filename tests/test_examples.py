"""The bundled example repository is what the demo runs: it must stay valid and realistic."""

from __future__ import annotations

from ivrsync.providers.tencent_ccc import TencentCccSettings
from ivrsync.validate import validate_repository
from tests.conftest import EXAMPLES


def test_example_repository_is_valid_with_its_one_transcode_acknowledged() -> None:
    report = validate_repository(EXAMPLES, env={})
    assert report.valid, [str(p) for p in report.problems]
    assert report.warnings == []
    [warning] = report.acknowledged
    assert warning.code == "audio-transcoded"
    assert "aicc.survey.en_US" in warning.message


def test_example_covers_every_provider_wav_mp3_locales_and_an_include() -> None:
    report = validate_repository(EXAMPLES, env={})
    project = report.project
    assert project is not None
    assert {s.type for s in project.providers.values()} == {
        "huawei-aicc",
        "tencent-ccc",
        "amazon-connect",
    }
    assert len(project.prompt_names) >= 3
    assert {r.address.locale for r in project.resources} >= {"en_US", "zh_CN"}
    assert {info.format for info in report.audio.values()} == {"wav", "mp3"}
    assert "prompts/menus.yaml" in project.files


def test_example_audio_stays_small() -> None:
    total = sum(p.stat().st_size for p in (EXAMPLES / "audio").rglob("*") if p.is_file())
    assert total < 1_000_000


def test_environment_overrides_a_provider_setting() -> None:
    report = validate_repository(EXAMPLES, env={"CCC_SDK_APP_ID": "1400999999"})
    assert report.project is not None
    ccc = report.project.providers["ccc"]
    assert isinstance(ccc, TencentCccSettings)
    assert ccc.sdk_app_id == 1400999999
