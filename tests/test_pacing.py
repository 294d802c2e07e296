"""Workers wait at their pause points while the process that launched them is busy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from curation.jobs import pacing, processes
from curation.jobs.files import LAUNCHER_FILE, LOG_FILE, read_json
from curation.jobs.records import insert_job, update_job
from curation.jobs.runner import jobs_dir, watch_jobs
from curation.store.store import Store

NAMES_ITSELF_THEN_WAITS = (
    "import sys; from curation.jobs import pacing; pacing.name_launcher(sys.argv[1]); "
    "print('named', flush=True); sys.stdin.read()"
)


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
    waits: str | None, paced: bool, tmp_path: Path
) -> None:
    env = pacing.launcher_env(tmp_path)
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


def test_a_launched_worker_finds_its_launcher_named_in_its_folder(tmp_path: Path) -> None:
    says_its_launcher = [
        sys.executable,
        "-c",
        f"import os; print(open(os.environ[{pacing.LAUNCHER_ENV!r}]).read())",
    ]
    pid = processes.launch(says_its_launcher, tmp_path)
    psutil.Process(pid).wait(timeout=60)
    named = json.loads((tmp_path / LOG_FILE).read_text())
    assert named == {"pid": os.getpid(), "started": psutil.Process().create_time()}


@pytest.fixture
def other_launcher(tmp_path: Path) -> Iterator[subprocess.Popen]:
    """Another process, which has named itself the launcher of the worker in tmp_path."""
    process = subprocess.Popen(
        [sys.executable, "-c", NAMES_ITSELF_THEN_WAITS, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "named"
    yield process
    process.stdin.close()
    process.wait(timeout=60)


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def test_a_worker_follows_the_launcher_named_after_its_first_one_ended(
    tmp_path: Path, other_launcher: subprocess.Popen
) -> None:
    read = pacing.LauncherCpu(tmp_path / LAUNCHER_FILE)
    assert read() == cpu_seconds(psutil.Process(other_launcher.pid))
    other_launcher.stdin.close()
    other_launcher.wait(timeout=60)
    assert read() is None  # ended, and no one else is named yet
    assert read() is None
    pacing.name_launcher(tmp_path)  # as a restarted server does
    before = cpu_seconds(psutil.Process())
    now = read()
    assert now is not None and before <= now <= cpu_seconds(psutil.Process())


@pytest.mark.parametrize(
    "named",
    ["", "not json", '{"pid": "1"}', '{"pid": 1}', json.dumps({"pid": os.getpid(), "started": 1})],
)
def test_a_launcher_file_naming_no_live_launcher_holds_no_worker_back(
    named: str, tmp_path: Path
) -> None:
    (tmp_path / LAUNCHER_FILE).write_text(named)
    read = pacing.LauncherCpu(tmp_path / LAUNCHER_FILE)
    assert read() is None
    assert pacing.LauncherCpu(tmp_path / "missing.json")() is None


def test_the_process_holding_the_store_names_itself_to_a_running_worker(
    store: Store, tmp_path: Path, other_launcher: subprocess.Popen
) -> None:
    job = insert_job(store, "generate", {}, {}, jobs_dir(store))
    job.folder.mkdir(parents=True)
    os.replace(tmp_path / LAUNCHER_FILE, job.folder / LAUNCHER_FILE)  # the old server's
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        processes.record_worker(job.folder, worker.pid)
        update_job(store, job.id, status="running", pid=worker.pid, started="now")
        assert read_json(job.folder / LAUNCHER_FILE)["pid"] == other_launcher.pid
        watch_jobs(store)  # as a restarted server's watcher, finding the worker alive
        assert read_json(job.folder / LAUNCHER_FILE)["pid"] == os.getpid()
    finally:
        worker.stdin.close()
        worker.wait(timeout=60)
