"""Workers wait at their pause points while the process that launched them is busy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from curation.jobs import pacing, processes
from curation.jobs.files import LOG_FILE


class Launcher:
    """A launcher on a simulated clock: it uses `busy_share` of a CPU until `busy_until`,
    then none; `sleep` moves the clock on, and `work` stands for a worker's batch."""

    def __init__(self, busy_until: float, busy_share: float = 0.9) -> None:
        self.now = 0.0
        self.cpu = 0.0
        self.busy_until = busy_until
        self.busy_share = busy_share
        self.gone = False

    def clock(self) -> float:
        return self.now

    def cpu_seconds(self) -> float | None:
        return None if self.gone else self.cpu

    def sleep(self, seconds: float) -> None:
        busy = max(0.0, min(self.now + seconds, self.busy_until) - self.now)
        self.cpu += busy * self.busy_share
        self.now += seconds

    work = sleep

    def pacer(self) -> pacing.Pacer:
        return pacing.Pacer(self.cpu_seconds, clock=self.clock, sleep=self.sleep)


def test_a_worker_waits_while_the_launcher_is_busy_and_goes_on_once_it_is_idle():
    launcher = Launcher(busy_until=3.0)
    pacer = launcher.pacer()
    pacer.pause_point()  # nothing to compare with yet
    assert launcher.now == 0.0
    launcher.work(1.0)  # a batch, while the launcher used 0.9 of a CPU
    pacer.pause_point()
    assert launcher.now == pytest.approx(3.1)  # the first look after it went idle
    assert pacer.waited == pytest.approx(2.1)
    launcher.work(1.0)
    pacer.pause_point()  # idle since: no wait
    assert pacer.waited == pytest.approx(2.1)


def test_a_launcher_using_half_a_cpu_or_less_holds_no_worker_back():
    launcher = Launcher(busy_until=100.0, busy_share=0.5)
    pacer = launcher.pacer()
    for _ in range(5):
        pacer.pause_point()
        launcher.work(1.0)
    assert pacer.waited == 0


def test_a_worker_waits_half_a_minute_in_a_row_at_most():
    launcher = Launcher(busy_until=1000.0)
    pacer = launcher.pacer()
    pacer.pause_point()
    launcher.work(1.0)
    pacer.pause_point()
    assert pacer.waited == pytest.approx(pacing.LONGEST_WAIT)
    launcher.work(1.0)
    pacer.pause_point()  # still busy: another wait, and the work moved on between them
    assert pacer.waited == pytest.approx(2 * pacing.LONGEST_WAIT)


def test_a_launcher_that_has_ended_holds_no_worker_back():
    launcher = Launcher(busy_until=1000.0)
    pacer = launcher.pacer()
    pacer.pause_point()
    launcher.work(1.0)
    launcher.gone = True
    pacer.pause_point()
    assert pacer.waited == 0


@pytest.mark.parametrize(("waits", "paced"), [(None, True), ("1", True), ("0", False)])
def test_a_worker_paces_itself_on_its_launcher_unless_told_not_to(
    waits: str | None, paced: bool
) -> None:
    env = {**os.environ, pacing.LAUNCHER_ENV: str(os.getpid())}
    env.pop(pacing.WAITS_ENV, None)
    if waits is not None:
        env[pacing.WAITS_ENV] = waits
    code = (
        "from curation.jobs import pacing; pacing.start_pacing(); print(pacing._pacer is not None)"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == str(paced)


def test_a_launched_worker_knows_its_launcher(tmp_path: Path) -> None:
    says_its_launcher = [
        sys.executable,
        "-c",
        f"import os; print(os.environ[{pacing.LAUNCHER_ENV!r}])",
    ]
    pid = processes.launch(says_its_launcher, tmp_path)
    psutil.Process(pid).wait(timeout=60)
    assert (tmp_path / LOG_FILE).read_text().strip() == str(os.getpid())


def test_a_worker_with_no_usable_launcher_starts_unpaced() -> None:
    env = {**os.environ, pacing.LAUNCHER_ENV: "not a pid"}
    code = "from curation.jobs import pacing; pacing.start_pacing(); print(pacing._pacer is None)"
    shown = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "True"
