"""The report in a real browser: headless Chromium (Debian's package) loads it from disk.

Skipped when no ``chromium`` is installed (``.ci/run`` installs it with apt-get where it can).
"""

import re
import shutil
import subprocess

import pytest
from report_marks import assert_every_query_marked, page_marks

from itr_bench.cli import main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

#: Headless, no sandbox (CI runs as root), and none of the browser's own calls home.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1200,1600"]


def _chromium(tmp_path, *args):
    result = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args], check=False,
                            capture_output=True, text=True, timeout=180,
                            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_chromium_shows_every_query_with_its_correct_match_marked_and_fetches_nothing(runs, tmp_path):
    out = tmp_path / "out"
    assert main(["report", str(runs), "--out", str(out), "--queries", "6", "--no-progress"]) == 0
    url = (out / "index.html").resolve().as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    marks = page_marks(dom)
    assert len(marks.queries) >= 12
    assert_every_query_marked(marks)
    assert not re.search(r"https?://", dom)  # nothing on the page could leave the machine
    assert all(not re.match(r"[a-z]+:", u) for u in marks.urls)  # only files beside the page

    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", url)
    from PIL import Image, ImageStat

    with Image.open(shot) as image:
        assert image.size == (1200, 1600)
        assert max(ImageStat.Stat(image.convert("L")).stddev) > 20  # rendered content, not a blank page
