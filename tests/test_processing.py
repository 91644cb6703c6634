"""`process:` in the manifest: the audio is converted to what each provider plays, cached by
sha256(source) + digest(recipe), and exactly the cached bytes are uploaded."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from ivrsync.audio_cache import AudioCache
from ivrsync.audio_signal import active_speech_level
from ivrsync.emulator.huawei import HuaweiEmulator, HuaweiEmulatorConfig
from ivrsync.manifest.loader import load_project
from ivrsync.plan.planner import desired_upload
from ivrsync.processing import convert
from ivrsync.processing.cache import CACHE_DIR, ProcessedCache
from ivrsync.processing.recipe import Recipe
from ivrsync.providers import PROVIDER_TYPES
from ivrsync.state.store import LocalStateStore
from tests.conftest import RunCli
from tests.repo_factory import huawei_repository, tencent_repository
from tests.test_apply_amazon_connect import (  # noqa: F401 (fixtures)
    BUCKET,
    RecordingEmulator,
    by_id,
    credentials,
    emulator,
    s3,
    s3_endpoint,
    write_repo,
)
from tests.test_apply_huawei import APP_KEY, APP_SECRET


def tone_wav(
    rate: int = 44100, channels: int = 2, seconds: float = 0.5, freq: float = 440.0
) -> bytes:
    """A 16-bit PCM WAV of a sine at -12 dBFS peak, the same on every channel."""
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.25 * np.sin(2 * np.pi * freq * t)
    out = io.BytesIO()
    sf.write(out, np.repeat(wave[:, None], channels, axis=1), rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Every real processing of a file, counted (a cache hit processes nothing)."""
    calls: list[Path] = []
    real = convert.process_file

    def counting(path: Path, recipe: Recipe) -> convert.Processed:
        calls.append(path)
        return real(path, recipe)

    monkeypatch.setattr(convert, "process_file", counting)
    yield calls


@pytest.mark.parametrize(
    ("provider_type", "subtype"),
    [("huawei-aicc", "ALAW"), ("amazon-connect", "ULAW"), ("tencent-ccc", "PCM_16")],
)
def test_convert_makes_the_provider_native_format(
    tmp_path: Path, provider_type: str, subtype: str
) -> None:
    (tmp_path / "a.wav").write_bytes(tone_wav())
    native = PROVIDER_TYPES[provider_type].NATIVE_AUDIO
    cache = ProcessedCache(tmp_path, AudioCache(tmp_path).facts)
    facts = cache.facts("a.wav", Recipe(target=native))
    info = sf.info(str(facts.path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (
        "WAV",
        subtype,
        8000,
        1,
    )
    assert abs(info.duration - 0.5) < 0.001
    assert facts.sha256 == hashlib.sha256(facts.path.read_bytes()).hexdigest()
    assert native.matches(facts.info)


def test_processing_is_deterministic_and_cached(tmp_path: Path, made: list[Path]) -> None:
    (tmp_path / "a.wav").write_bytes(tone_wav())
    recipe = Recipe(target=PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO, normalize=-26.0)
    first = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    data = first.path.read_bytes()
    first.path.unlink()
    again = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    assert again.path.read_bytes() == data
    hit = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    assert hit.sha256 == first.sha256
    assert len(made) == 2  # the third run read the cache


def test_downmix_of_channels_that_cancel_is_said(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate // 2) / rate
    wave = 0.25 * np.sin(2 * np.pi * 440 * t)
    out = io.BytesIO()
    sf.write(out, np.stack([wave, -wave], axis=1), rate, format="WAV", subtype="PCM_16")
    (tmp_path / "a.wav").write_bytes(out.getvalue())
    recipe = Recipe(target=PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO)
    facts = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    assert any("cancel" in note for note in facts.notes)


def test_trim_and_normalize(tmp_path: Path) -> None:
    rate = 8000
    silence = np.zeros(rate)  # 1 s before and after
    t = np.arange(rate) / rate
    wave = np.concatenate([silence, 0.01 * np.sin(2 * np.pi * 440 * t), silence])
    out = io.BytesIO()
    sf.write(out, wave, rate, format="WAV", subtype="PCM_16")
    (tmp_path / "a.wav").write_bytes(out.getvalue())
    recipe = Recipe(
        target=PROVIDER_TYPES["tencent-ccc"].NATIVE_AUDIO, normalize=-20.0, lead=0.2, trail=0.3
    )
    facts = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    samples, got_rate = sf.read(str(facts.path))
    assert got_rate == rate
    assert abs(len(samples) / rate - 1.5) < 0.02  # 0.2 + 1 + 0.3
    loud = np.flatnonzero(np.abs(samples) > 0.001)
    assert abs(loud[0] / rate - 0.2) < 0.011
    assert abs((len(samples) - loud[-1]) / rate - 0.3) < 0.011
    level, _, _ = active_speech_level(samples, rate)  # P.56, as validate measures it
    assert level is not None and abs(level - -20.0) < 0.1


def state_of(repo: Path) -> Any:
    state = LocalStateStore(repo / "ivrsync.state.json").read()
    assert state is not None
    return state


def test_amazon_connect_takes_processed_audio_and_a_recipe_change_is_planned(
    run_cli: RunCli,
    tmp_path: Path,
    emulator: RecordingEmulator,  # noqa: F811
    s3_endpoint: str,  # noqa: F811
    made: list[Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = tone_wav()  # PCM 44.1 kHz stereo: Amazon Connect plays mu-law 8 kHz mono only
    repo = write_repo(tmp_path, emulator, s3_endpoint, {"welcome": source})
    code, _, err = run_cli("-C", str(repo), "validate")
    assert code == 1
    assert "not mu-law" in err + _

    write_repo(
        tmp_path, emulator, s3_endpoint, {"welcome": source}, extra="process:\n  connect: native\n"
    )
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err + out
    assert "Apply complete: 1 uploaded" in out
    assert len(made) == 1
    entry = state_of(repo).resources["connect.welcome.en_US"]
    cached = next((repo / CACHE_DIR).glob("*/*.wav"))
    uploaded = cached.read_bytes()
    assert entry.sha256 == hashlib.sha256(source).hexdigest()  # the source decides uploads
    assert entry.processed_sha256 == hashlib.sha256(uploaded).hexdigest()
    prompt = by_id(emulator)[entry.file_id]
    assert prompt.audio_sha256 == entry.processed_sha256  # exactly the cached bytes
    info = sf.info(str(cached))
    assert (info.subtype, info.samplerate, info.channels) == ("ULAW", 8000, 1)

    # A second plan reads the cache: nothing processed, nothing to do.
    code, out, err = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert len(made) == 1

    # A new library version (simulated: other output bytes, cache gone) re-uploads nothing.
    real = convert.encode

    def other_bytes(samples: Any, rate: int, recipe: Recipe) -> bytes:
        return real(samples * 0.999, rate, recipe)

    monkeypatch.setattr(convert, "encode", other_bytes)
    shutil.rmtree(repo / CACHE_DIR)
    code, out, err = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 0, out + err
    assert len(made) == 2

    # A new recipe is a change, with its reason.
    write_repo(
        tmp_path,
        emulator,
        s3_endpoint,
        {"welcome": source},
        extra="process:\n  connect: {normalize: -20}\n",
    )
    code, out, err = run_cli("-C", str(repo), "plan", "--detailed-exitcode")
    assert code == 2, err
    assert "processing recipe changed: normalize none -> -20 dBov" in out
    code, out, err = run_cli("-C", str(repo), "plan", "--format", "json")
    after = json.loads(out)["changes"][0]["after"]
    assert after["process"]["normalize"] == "-20 dBov"
    cached = repo / after["processed_path"]
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == after["processed_sha256"]
    code, out, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err + out
    assert "1 updated" in out
    entry = state_of(repo).resources["connect.welcome.en_US"]
    assert by_id(emulator)[entry.file_id].audio_sha256 == entry.processed_sha256
    assert entry.process is not None and entry.process["normalize"] == "-20 dBov"


def test_preview_writes_what_callers_will_hear(run_cli: RunCli, tmp_path: Path) -> None:
    repo = huawei_repository(tmp_path / "repo", 2, endpoint="https://127.0.0.1:9")
    (repo / "audio/p00000.wav").write_bytes(tone_wav())  # processed below
    (repo / "audio/p00001.wav").write_bytes(tone_wav(rate=16000, channels=1))  # as it is
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace(
            "prompts:\n  p00000:\n", "prompts:\n  p00000:\n    process: native\n"
        )
    )
    out = tmp_path / "heard"
    code, text, err = run_cli("-C", str(repo), "preview", "--all", "--out", str(out))
    assert code == 0, err
    assert "2 resource(s) previewed" in text
    assert sorted(p.name for p in out.iterdir()) == [
        "aicc.p00000.en_US.wav",
        "aicc.p00001.en_US.transcoded.wav",  # AICC transcodes what it is given: simulated
        "aicc.p00001.en_US.wav",
    ]
    processed = sf.info(str(out / "aicc.p00000.en_US.wav"))
    assert (processed.subtype, processed.samplerate, processed.channels) == ("ALAW", 8000, 1)
    assert (out / "aicc.p00001.en_US.wav").read_bytes() == (repo / "audio/p00001.wav").read_bytes()
    transcoded = sf.info(str(out / "aicc.p00001.en_US.transcoded.wav"))
    assert (transcoded.subtype, transcoded.samplerate) == ("ALAW", 8000)

    code, _, err = run_cli("-C", str(repo), "preview", "aicc.nope.en_US", "--out", str(out))
    assert code == 1
    assert "matches no resource" in err
    assert "Traceback" not in err


def test_mp3_source_converts(tmp_path: Path) -> None:
    rate = 44100
    t = np.arange(rate) / rate
    out = io.BytesIO()
    sf.write(out, 0.25 * np.sin(2 * np.pi * 440 * t), rate, format="MP3", subtype="MPEG_LAYER_III")
    (tmp_path / "a.mp3").write_bytes(out.getvalue())
    recipe = Recipe(target=PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO)
    facts = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.mp3", recipe)
    info = sf.info(str(facts.path))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("WAV", "ALAW", 8000, 1)
    assert abs(info.duration - 1.0) < 0.1  # MP3 encoder delay and padding


def test_a_saved_plan_is_stale_once_the_recipe_changes(
    run_cli: RunCli,
    tmp_path: Path,
    emulator: RecordingEmulator,  # noqa: F811
    s3_endpoint: str,  # noqa: F811
) -> None:
    source = tone_wav()
    repo = write_repo(
        tmp_path, emulator, s3_endpoint, {"welcome": source}, extra="process:\n  connect: native\n"
    )
    code, _, err = run_cli("-C", str(repo), "plan", "--out", "plan.json")
    assert code == 0, err
    write_repo(
        tmp_path,
        emulator,
        s3_endpoint,
        {"welcome": source},
        extra="process:\n  connect: {normalize: -20}\n",
    )
    code, out, err = run_cli("-C", str(repo), "apply", "plan.json")
    assert code == 1, out
    assert "stale" in err and "processing of connect.welcome.en_US changed" in err
    assert "Traceback" not in err
    assert emulator.requests.get("CreatePrompt") is None


def test_processed_audio_cannot_go_through_published_urls(run_cli: RunCli, tmp_path: Path) -> None:
    repo = tencent_repository(
        tmp_path / "repo", 1, endpoint="https://127.0.0.1:9", audio_base_url="https://cdn.test"
    )
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  ccc: native\n")
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 1
    assert "ccc.p00000.en_US: audio/p00000.wav: its audio is processed" in out + err
    assert "`audio_source` type s3" in out + err


def test_a_damaged_cache_file_is_made_again_not_uploaded(tmp_path: Path, made: list[Path]) -> None:
    (tmp_path / "a.wav").write_bytes(tone_wav())
    recipe = Recipe(target=PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO)
    first = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).facts("a.wav", recipe)
    good = first.path.read_bytes()
    first.path.write_bytes(good[:-10])  # truncated behind ivrsync's back
    checked = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).checked("a.wav", recipe)
    assert checked.path.read_bytes() == good
    assert checked.sha256 == first.sha256
    assert len(made) == 2
    cache = ProcessedCache(tmp_path, AudioCache(tmp_path).facts)
    cache.facts("a.wav", recipe)
    cache.save()  # the record is indexed
    checked.path.unlink()
    again = ProcessedCache(tmp_path, AudioCache(tmp_path).facts).checked("a.wav", recipe)
    assert again.path.read_bytes() == good
    assert len(made) == 3


def test_a_prompt_process_overrides_the_provider_keys_it_sets(tmp_path: Path) -> None:
    repo = huawei_repository(tmp_path / "repo", 3, endpoint="https://127.0.0.1:9")
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    text = text.replace("  p00000:\n", "  p00000:\n    process: {normalize: -23}\n")
    text = text.replace("  p00001:\n", "  p00001:\n    process: off\n")
    manifest.write_text(text + "process:\n  aicc: {normalize: -26, trim: {lead: 0.2}}\n")
    project = load_project(repo)
    recipes = {str(r.address): r.process for r in project.resources}
    native = PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO
    assert recipes == {
        "aicc.p00000.en_US": Recipe(target=native, normalize=-23, lead=0.2),
        "aicc.p00001.en_US": None,
        "aicc.p00002.en_US": Recipe(target=native, normalize=-26, lead=0.2),
    }


def test_a_file_process_overrides_the_prompt_and_provider_keys_it_sets(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Per provider, prompt or file: `audio: {LOCALE: {file, process}}` is the last layer."""
    repo = huawei_repository(tmp_path / "repo", 3, endpoint="https://127.0.0.1:9")
    manifest = repo / "ivrsync.yaml"
    text = manifest.read_text()
    text = text.replace(
        "  p00000:\n    audio:\n      en_US: audio/p00000.wav\n",
        "  p00000:\n    process: {normalize: -23}\n    audio:\n"
        "      en_US: {process: {trim: {trail: 0.5}}, file: audio/p00000.wav}\n",
    )
    text = text.replace(
        "      en_US: audio/p00001.wav\n", "      en_US: {file: audio/p00001.wav, process: off}\n"
    )
    manifest.write_text(text + "process:\n  aicc: {normalize: -26, trim: {lead: 0.2}}\n")
    project = load_project(repo)
    recipes = {str(r.address): r.process for r in project.resources}
    native = PROVIDER_TYPES["huawei-aicc"].NATIVE_AUDIO
    assert recipes == {
        "aicc.p00000.en_US": Recipe(target=native, normalize=-23, trail=0.5),
        "aicc.p00001.en_US": None,
        "aicc.p00002.en_US": Recipe(target=native, normalize=-26, lead=0.2),
    }
    code, _, err = run_cli("-C", str(repo), "fmt")
    assert code == 0, err
    assert "en_US: {file: audio/p00000.wav, process: {trim: {trail: 0.5}}}" in manifest.read_text()

    manifest.write_text(manifest.read_text().replace("file: audio/p00001.wav, ", ""))
    code, out, err = run_cli("-C", str(repo), "validate")
    assert code == 1
    line = next(n for n, t in enumerate(manifest.read_text().splitlines(), 1) if "p00001" in t)
    assert f"ivrsync.yaml:{line + 2}:7: error: missing required key 'file' in " in err + out
    assert "must be text" not in err + out  # the map form was meant: no noise about the other


@pytest.fixture
def huawei(monkeypatch: pytest.MonkeyPatch) -> Iterator[HuaweiEmulator]:
    """The Huawei emulator, and the credentials it takes in the environment."""
    monkeypatch.setenv("AICC_APP_KEY", APP_KEY)
    monkeypatch.setenv("AICC_APP_SECRET", APP_SECRET)
    with HuaweiEmulator(HuaweiEmulatorConfig(app_key=APP_KEY, app_secret=APP_SECRET)) as running:
        yield running


def test_huawei_gets_the_processed_a_law_bytes(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    repo = huawei_repository(tmp_path / "repo", 1, endpoint=huawei.url)
    source = tone_wav(rate=48000)
    (repo / "audio/p00000.wav").write_bytes(source)
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  aicc: native\n")
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    assert "transcodes" not in err  # nothing left for AICC to transcode
    entry = state_of(repo).resources["aicc.p00000.en_US"]
    (upload,) = huawei.uploads
    assert upload.file_id == entry.file_id
    assert upload.sha256 == entry.processed_sha256 != hashlib.sha256(source).hexdigest()
    cached = next((repo / CACHE_DIR).glob("*/*.wav"))
    assert sf.info(str(cached)).subtype == "ALAW"


def test_a_name_that_carries_the_content_tells_recipes_apart(tmp_path: Path) -> None:
    repo = tencent_repository(
        tmp_path / "repo", 2, endpoint="https://127.0.0.1:9", audio_base_url="https://cdn.test"
    )
    (repo / "audio/p00001.wav").write_bytes((repo / "audio/p00000.wav").read_bytes())
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  ccc: native\n")
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(
        manifest.read_text().replace("  p00001:\n", "  p00001:\n    process: {normalize: -20}\n")
    )
    project = load_project(repo)
    cache = AudioCache(repo)
    processed = ProcessedCache(repo, cache.facts)
    names = {
        r.address.prompt: desired_upload(project, r, cache.facts, processed.facts).remote_name
        for r in project.resources
    }
    # The same recording, two recipes: other audio, so other names (an upload in doubt is
    # looked up by name, and must not be taken for the other).
    first, second = (names["p00000"].rsplit(".", 1)[1], names["p00001"].rsplit(".", 1)[1])
    assert first != second


def test_the_review_page_plays_the_processed_audio(run_cli: RunCli, tmp_path: Path) -> None:
    from tests.test_review_page import players, section

    repo = huawei_repository(tmp_path / "repo", 1, endpoint="https://127.0.0.1:9")
    (repo / "audio/p00000.wav").write_bytes(tone_wav())
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  aicc: native\n")
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    [(kind, _, mime, data)] = players(section(page, "aicc.p00000.en_US"))
    assert (kind, mime) == ("current", "audio/wav")
    assert data == next((repo / CACHE_DIR).glob("*/*.wav")).read_bytes()  # what callers hear


def test_validate_measures_the_processed_audio(run_cli: RunCli, tmp_path: Path) -> None:
    repo = huawei_repository(tmp_path / "repo", 1, endpoint="https://127.0.0.1:9")
    rate = 8000
    t = np.arange(rate) / rate
    out = io.BytesIO()  # a tone far too quiet: about -49 dBov
    sf.write(out, 0.005 * np.sin(2 * np.pi * 440 * t), rate, format="WAV", subtype="PCM_16")
    (repo / "audio/p00000.wav").write_bytes(out.getvalue())
    code, text, err = run_cli("-C", str(repo), "validate")
    assert "active speech level -48.9 dBov" in text + err
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  aicc: {normalize: -22}\n")
    code, text, err = run_cli("-C", str(repo), "validate")
    assert code == 0, text + err
    assert "active speech level" not in text + err  # the upload is at the target


def test_a_processed_prompt_from_a_source_below_8_khz_is_still_said(
    run_cli: RunCli, tmp_path: Path
) -> None:
    """Converting up to 8 kHz cannot bring back what a 6 kHz recording never had: the check
    names the source's rate, and the source itself is not measured (only the upload is)."""
    repo = huawei_repository(tmp_path / "repo", 1, endpoint="https://127.0.0.1:9")
    (repo / "audio/p00000.wav").write_bytes(tone_wav(rate=6000, channels=1, seconds=1.0))
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  aicc: native\n")
    _, text, err = run_cli("-C", str(repo), "validate")
    assert "the source's sample rate 6000 Hz, below the telephone network's 8000 Hz" in text + err
    assert AudioCache(repo).signals == {}  # the source was not measured
    (record,) = (repo / CACHE_DIR).glob("*/*.json")  # the upload was, once, and kept
    assert json.loads(record.read_text())["signal"]["facts"]["sample_rate"] == 8000


def test_the_text_plan_shows_the_processed_audio_and_its_recipe(
    run_cli: RunCli, tmp_path: Path
) -> None:
    repo = huawei_repository(tmp_path / "repo", 1, endpoint="https://127.0.0.1:9")
    source = tone_wav(seconds=1.0)  # 44.1 kHz stereo PCM
    (repo / "audio/p00000.wav").write_bytes(source)
    with (repo / "ivrsync.yaml").open("a") as f:
        f.write("process:\n  aicc: {convert: true, normalize: -22}\n")
    code, out, err = run_cli("-C", str(repo), "plan")
    assert code == 0, err
    processed_size = next((repo / CACHE_DIR).glob("*/*.wav")).stat().st_size
    assert processed_size != len(source)
    assert (
        f"audio:       audio/p00000.wav (processed, 1.00 s, wav alaw, 8,000 Hz, mono, "
        f"{processed_size:,} bytes)" in out
    )
    assert "process:     convert WAV alaw, 8000 Hz, mono; normalize -22 dBov" in out


def test_the_review_page_plays_the_processed_audio_uploaded_before_a_recipe_change(
    run_cli: RunCli, tmp_path: Path, huawei: HuaweiEmulator
) -> None:
    """A new recipe of the same recording: the reviewer hears both processed versions."""
    from tests.test_review_page import players, section

    repo = huawei_repository(tmp_path / "repo", 1, endpoint=huawei.url)
    (repo / "audio/p00000.wav").write_bytes(tone_wav())
    manifest = repo / "ivrsync.yaml"
    manifest.write_text(manifest.read_text() + "process:\n  aicc: {normalize: -26}\n")
    code, _, err = run_cli("-C", str(repo), "apply", "--auto-approve")
    assert code == 0, err
    (uploaded_before,) = huawei.uploads
    manifest.write_text(manifest.read_text().replace("normalize: -26", "normalize: -20"))
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    found = {kind: data for kind, _, _, data in players(section(page, "aicc.p00000.en_US"))}
    assert set(found) == {"current", "previous"}
    assert hashlib.sha256(found["previous"]).hexdigest() == uploaded_before.sha256
    assert found["current"] != found["previous"]
    assert "processed, as uploaded" in section(page, "aicc.p00000.en_US")
