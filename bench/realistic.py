"""A realistic prompt repository for the benchmarks (issue 19): what a contact center keeps.

Each prompt has audio in several locales and goes to two providers (Huawei AICC and Tencent
CCC), so one prompt is 8 resources by default; prompts are spread over many include files (by
menu area) and described; a share of the audio is MP3 (which AICC transcodes: a warning per
resource, as a real repository has), the rest 8 kHz A-law WAV; every file has its own bytes.
`record_state` writes the state an apply would leave, every review with a comment and a time.

    realistic_repository(root, prompts=2_500)  # 2,500 x 4 locales x 2 providers = 20,000
"""

from __future__ import annotations

import io
import math
import sys
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.repo_factory import UPLOADED_AT, distinct_wav, record_applied  # noqa: E402

LOCALES = ("en_US", "zh_CN", "pt_BR", "th_TH")  # all four are ones Huawei AICC takes
AREAS = ("billing", "support", "sales", "outage", "roaming", "payments", "retention", "hours")
MANIFEST = """\
# yaml-language-server: $schema=../schema/ivrsync.schema.json
version: 1

providers:
  aicc:
    type: huawei-aicc
    endpoint: https://service.besclouds.com
    app_key_env: AICC_APP_KEY
    app_secret_env: AICC_APP_SECRET
    rate_limit: 10
  ccc:
    type: tencent-ccc
    sdk_app_id: 1400000000
    endpoint: ccc.tencentcloudapi.com
    secret_id_env: TENCENTCLOUD_SECRET_ID
    secret_key_env: TENCENTCLOUD_SECRET_KEY
    audio_source:
      type: url
      template: https://cdn.example.com/ivr/{path}

defaults:
  providers: [aicc, ccc]
  voice_type: ivr

include:
  - prompts/*.yaml
"""


def mp3(number: int, seconds: float = 1.0) -> bytes:
    """A short MP3 of a tone whose pitch is the number: each number its own bytes."""
    import numpy as np
    import soundfile as sf

    rate = 8000
    t = np.arange(round(rate * seconds)) / rate
    wave = 0.1 * np.sin(2 * math.pi * (200 + (number % 5000) * 0.37) * t)
    wave[: number % 97 + 1] = 0.0  # and a different start
    out = io.BytesIO()
    sf.write(out, wave, rate, format="MP3")
    return out.getvalue()


def realistic_repository(
    root: Path,
    prompts: int = 2_500,
    *,
    locales: tuple[str, ...] = LOCALES,
    include_files: int = 50,
    mp3_every: int = 5,  # 20% MP3
    wav_bytes: int = 8_000,  # one second of 8 kHz A-law
) -> Path:
    """`prompts` prompts x `locales` x 2 providers resources, in `include_files` files."""
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    per_file = -(-prompts // include_files)
    number = 0
    for part in range(include_files):
        area = AREAS[part % len(AREAS)]
        lines = [f"# {area.title()} menus, part {part}\nprompts:\n"]
        for index in range(part * per_file, min(prompts, (part + 1) * per_file)):
            name = f"{area}_{index:05d}"
            lines.append(
                f"  {name}:\n    description: {area.title()} menu, step {index % 12 + 1}\n"
                "    audio:\n"
            )
            for locale in locales:
                number += 1
                folder = root / "audio" / locale / area
                folder.mkdir(parents=True, exist_ok=True)
                if number % mp3_every == 0:
                    relative = f"audio/{locale}/{area}/{name}.mp3"
                    (root / relative).write_bytes(mp3(number))
                else:
                    relative = f"audio/{locale}/{area}/{name}.wav"
                    (root / relative).write_bytes(distinct_wav(number, wav_bytes))
                lines.append(f"      {locale}: ../{relative}\n")
        (root / "prompts" / f"{part:03d}-{area}.yaml").write_text("".join(lines))
    (root / "ivrsync.yaml").write_text(MANIFEST)
    return root


def record_state(repo: Path) -> None:
    """The state an apply of the repository would leave: every resource uploaded and reviewed,
    each review with a comment and a time."""
    from ivrsync.state.model import Review

    def reviewed(number: int) -> Review:
        return Review.model_validate(
            {
                "status": "approved",
                "comment": f"Approved by reviewer {number % 17}: clear, level fine",
                "updated_at": UPLOADED_AT + timedelta(minutes=5 + number % 600),
            }
        )

    record_applied(repo, review=reviewed)
