"""`plan --format html`: one self-contained page to look at and listen to (issue 17, section 3)."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ivrsync.operations.plan import plan_repository
from ivrsync.operations.review_page import review_audio
from ivrsync.plan.model import Action, Recorded, ResourceChange
from ivrsync.plan.planner import PlanOptions
from ivrsync.views.plan_html import render_html
from tests.conftest import EXAMPLES, RunCli
from tests.repo_factory import big_plan, record_applied

_PLAYER = re.compile(
    r'<figure class="(current|previous)"><figcaption>[^<]*</figcaption>'
    r'(<svg class="waveform".*?</svg>)<audio controls preload="metadata" '
    r'src="data:(audio/[a-z]+);base64,([A-Za-z0-9+/=]+)"></audio></figure>'
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    target = tmp_path / "prompts"
    shutil.copytree(EXAMPLES, target)
    return target


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def players(page: str) -> list[tuple[str, str, str, bytes]]:
    """(kind, svg, mime, audio bytes) of each player on the page."""
    return [(k, svg, mime, base64.b64decode(b64)) for k, svg, mime, b64 in _PLAYER.findall(page)]


def section(page: str, address: str) -> str:
    start = page.index(f'id="{address}"')
    return page[start : page.index("</section>", start)]


def test_the_page_plays_and_draws_every_upload_with_nothing_external(
    run_cli: RunCli, repo: Path
) -> None:
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    assert page.startswith("<!DOCTYPE html>")
    assert "Plan: 18 to upload, 0 to replace, 0 to forget." in page
    found = players(page)
    assert len(found) == 18
    welcome = section(page, "aicc.welcome.en_US")
    assert "remote_name: WelcomeEnUS" in welcome
    [(kind, svg, mime, data)] = players(welcome)
    assert (kind, mime) == ("current", "audio/wav")
    assert data == (repo / "audio/en_US/welcome.wav").read_bytes()
    points = re.search(r'points="([^"]*)"', svg)
    assert points is not None and len(points.group(1).split()) > 100
    # Self-contained: no resource the page would fetch.
    assert not re.search(r'(src|href)="(?!data:)|<link|<script|url\(', page)


def test_show_renders_a_saved_plan_as_the_same_page(run_cli: RunCli, repo: Path) -> None:
    code, _, err = run_cli("-C", str(repo), "plan", "--out", "plan.json")
    assert code == 0, err
    code, page, err = run_cli("-C", str(repo), "show", "plan.json", "--format", "html")
    assert code == 0, err
    assert len(players(page)) == 18
    code, _, err = run_cli("-C", str(repo), "show", "--format", "html")
    assert code == 1
    assert "give its PLANFILE" in err


def test_a_changed_file_plays_beside_the_version_found_in_git_history(
    run_cli: RunCli, repo: Path
) -> None:
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "prompts")
    old = (repo / "audio/en_US/goodbye.wav").read_bytes()
    record_applied(repo)
    new = (repo / "audio/en_US/welcome.wav").read_bytes()
    (repo / "audio/en_US/goodbye.wav").write_bytes(new)
    git(repo, "commit", "-qam", "a new goodbye")
    first = git(repo, "rev-parse", "HEAD~1").strip()
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    goodbye = section(page, "aicc.goodbye.en_US")
    [current, previous] = players(goodbye)
    assert (current[0], current[3]) == ("current", new)
    assert (previous[0], previous[3]) == ("previous", old)
    assert f"(commit {first[:8]})" in goodbye
    assert 'id="aicc.welcome.en_US"' not in page  # unchanged: not a change on the page


def test_without_the_recorded_version_in_history_the_page_says_so(
    run_cli: RunCli, repo: Path
) -> None:
    record_applied(repo)
    (repo / "audio/en_US/goodbye.wav").write_bytes((repo / "audio/en_US/welcome.wav").read_bytes())
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    goodbye = section(page, "aicc.goodbye.en_US")
    assert [p[0] for p in players(goodbye)] == ["current"]
    assert "the uploaded version of audio/en_US/goodbye.wav (sha256 " in goodbye
    assert "is not in the last 50 commits of its git history" in goodbye


def test_a_big_plan_embeds_players_for_the_first_changes_and_says_what_is_left_out(
    repo: Path,
) -> None:
    plan = plan_repository(repo, PlanOptions((), ()), lock=False, lock_timeout=0).plan
    assert plan is not None
    page = render_html(plan, review_audio(plan, repo, limit=5))
    assert len(players(page)) == 5
    caps = "a page embeds at most 5 players and 30 MB of audio"
    assert f"Players for the first 5 changes that send audio ({caps}); 13 more are listed" in page
    last = plan.changes[-1].address
    assert f"No player: {caps}." in section(page, last)
    assert page.count('<section class="change') == 18
    # Big files: the audio cap counts each file once, at the size the plan records.
    sizes = {c.after.audio_path: c.after.size for c in plan.changes if c.after}
    first_two = sum(sizes[c.after.audio_path] for c in plan.changes[:2] if c.after)
    page = render_html(plan, review_audio(plan, repo, max_bytes=first_two))
    embedded = {data for *_, data in players(page)}
    assert sum(len(data) for data in embedded) == first_two
    assert re.search(r"Players for the first \d+ changes that send audio \(", page)
    # A file shared with another provider's resource costs nothing more: it plays there too.
    assert (
        players(page)[0][3]
        == players(section(page, plan.changes[0].address.replace("aicc.", "ccc.")))[0][3]
    )


_PROBE = """<script>
Promise.all([...document.querySelectorAll("audio")].map(a => a.readyState >= 1 ? a.duration :
  new Promise(done => { a.onloadedmetadata = () => done(a.duration); a.onerror = () => done(-1);
                        a.load(); })))
  .then(d => { const p = document.createElement("pre"); p.id = "probe";
               p.textContent = JSON.stringify({durations: d,
                 waveforms: document.querySelectorAll("svg.waveform polyline").length});
               document.body.append(p); });
</script></body>"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("chromium is not installed (`make pytest` installs it as root: apt-get)")
    return found


def headless(browser: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )


def test_a_real_browser_plays_every_player_and_draws_every_waveform(
    run_cli: RunCli, repo: Path, tmp_path: Path
) -> None:
    browser = chromium()
    code, page, err = run_cli("-C", str(repo), "plan", "--format", "html")
    assert code == 0, err
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", _PROBE), encoding="utf-8")
    # The virtual time budget lets the page's media load; the probe's line is what is waited on.
    dom = headless(browser, "--virtual-time-budget=20000", "--dump-dom", probed.as_uri()).stdout
    probe = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    assert probe is not None, "the page's audio elements never reported their metadata"
    result = json.loads(probe.group(1))
    assert result["waveforms"] == 18
    durations = result["durations"]
    assert len(durations) == 18 and all(d > 0.5 for d in durations), durations
    shot = tmp_path / "page.png"
    headless(browser, "--window-size=1100,900", f"--screenshot={shot}", probed.as_uri())
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_deletes_and_warnings_are_as_loud_as_elsewhere_and_a_missing_file_is_said(
    tmp_path: Path,
) -> None:
    plan = big_plan({"ccc": 1}, warnings=1)
    deleted = ResourceChange(
        address="ccc.old.en_US",
        provider="ccc",
        provider_type="tencent-ccc",
        action=Action.DELETE,
        before=Recorded(
            file_id="4242",
            audio_path="audio/old.wav",
            sha256="cd" * 32,
            size=10,
            remote_name="old",
            attributes={},
            review_status="approved",
        ),
    )
    plan = plan.model_copy(update={"changes": [*plan.changes, deleted]})
    page = render_html(plan, review_audio(plan, tmp_path))  # no audio files there
    caution = page[page.index('<div class="caution">') :]
    assert "1 remote file(s) will be DELETED" in caution
    assert "<code>ccc.old.en_US</code> FileId <code>4242</code>" in caution
    assert '<div class="warning">Warning: warning number 000</div>' in page
    assert "will be DELETED: FileId 4242 is deleted from ccc" in section(page, "ccc.old.en_US")
    assert players(page) == []
    missing = section(page, "ccc.prompt00000.en_US")
    assert "prompt00000.wav cannot be read: No such file or directory." in missing


def test_a_saved_plan_whose_file_changed_since_plays_nothing_it_would_not_upload(
    run_cli: RunCli, repo: Path
) -> None:
    code, _, err = run_cli("-C", str(repo), "plan", "--out", "plan.json")
    assert code == 0, err
    (repo / "audio/en_US/goodbye.wav").write_bytes((repo / "audio/en_US/welcome.wav").read_bytes())
    code, page, err = run_cli("-C", str(repo), "show", "plan.json", "--format", "html")
    assert code == 0, err
    goodbye = section(page, "aicc.goodbye.en_US")
    assert players(goodbye) == []
    assert "audio/en_US/goodbye.wav has changed since the plan was made (apply refuses" in goodbye
    assert len(players(page)) == 16  # the two resources of goodbye.wav have none
