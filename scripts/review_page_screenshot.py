"""Make docs/review-page.png: the review page of a plan that replaces one prompt's audio.

The example repository is copied into a temporary git repository, applied (its state
recorded), then goodbye.wav is re-recorded and committed; the page of that plan is rendered by
headless Chromium. Run: PYTHONPATH=. .venv/bin/python scripts/review_page_screenshot.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.repo_factory import record_applied  # noqa: E402


def main() -> int:
    browser = shutil.which("chromium")
    if browser is None:
        sys.exit("chromium is not installed: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="ivrsync-page-") as temp:
        repo = Path(temp) / "prompts"
        shutil.copytree(ROOT / "examples" / "manifests", repo)
        git = ["git", "-c", "user.name=docs", "-c", "user.email=docs@example.invalid"]
        subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
        subprocess.run([*git, "add", "."], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", "prompts"], cwd=repo, check=True)
        record_applied(repo)
        audio = repo / "audio" / "en_US"
        (audio / "goodbye.wav").write_bytes((audio / "welcome.wav").read_bytes())
        subprocess.run([*git, "commit", "-qam", "goodbye, re-recorded"], cwd=repo, check=True)
        page = Path(temp) / "page.html"
        with page.open("wb") as out:
            subprocess.run(
                [sys.executable, "-m", "ivrsync", "plan", "--format", "html"],
                cwd=repo, stdout=out, check=True,
            )  # fmt: skip
        shot = ROOT / "docs" / "review-page.png"
        subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--window-size=1100,880", f"--screenshot={shot}", page.as_uri()],
            check=True, capture_output=True,
        )  # fmt: skip
        print(f"wrote {shot.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
