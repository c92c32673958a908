"""Worker processes never outlive a killed parent, and the user's joblib backend is still honoured."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import joblib
import numpy as np
import pytest

from skpci._parallel import workers

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")


def _children(pid):
    """Pids of the live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
            if fields.get("PPid", "").strip() == str(pid) and not fields.get("State", "").startswith("Z"):
                found.append(int(entry.name))
    return found


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in state


def _kill_and_watch(script, ready_file, tmp_path, timeout=120):
    """Start ``script``; once ``ready_file`` appears, SIGKILL it; return its children's pids still alive 10 s later."""
    process = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        assert process.poll() is None, process.communicate()[1].decode()[-3000:]
        assert time.monotonic() < deadline, "the script never got its workers going"
        time.sleep(0.2)
    children = _children(process.pid)
    assert len(children) >= 2, "expected loky workers (and its resource tracker) as children"
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stdout.close()
    process.stderr.close()
    settle = time.monotonic() + 10
    while time.monotonic() < settle and any(_alive(pid) for pid in children):
        time.sleep(0.2)
    survivors = [pid for pid in children if _alive(pid)]
    for pid in survivors:
        os.kill(pid, signal.SIGKILL)
    return children, survivors


def test_workers_exit_when_the_parent_is_killed_mid_task(tmp_path):
    script = f"""
        import os, time
        from pathlib import Path
        from joblib import delayed
        from skpci._parallel import workers

        def slow(i):
            Path({str(tmp_path)!r}, f"started-{{os.getpid()}}").touch()
            if len(list(Path({str(tmp_path)!r}).glob("started-*"))) >= 2:
                Path({str(tmp_path)!r}, "ready").touch()
            time.sleep(60)

        workers(2)(delayed(slow)(i) for i in range(4))
    """
    children, survivors = _kill_and_watch(script, tmp_path / "ready", tmp_path)
    assert survivors == [], f"{len(survivors)} of {len(children)} worker processes outlived their parent"


def test_idle_workers_of_to_store_exit_when_the_parent_is_killed(tmp_path, field_files):
    paths, _ = field_files
    script = f"""
        import time
        from pathlib import Path
        from skpci import CellSegmenter

        CellSegmenter(nuclear_channel=1, scale=1, crop_size=32, min_nucleus_area=10, n_jobs=2).to_store(
            {paths!r}, "store", images_per_shard=2)
        Path("ready").touch()
        time.sleep(120)
    """
    children, survivors = _kill_and_watch(script, tmp_path / "ready", tmp_path)
    assert survivors == [], f"{len(survivors)} of {len(children)} worker processes outlived their parent"


def _pid(_):
    return os.getpid()


def test_results_are_those_of_joblib_and_workers_are_other_processes():
    pids = workers(2)(joblib.delayed(_pid)(i) for i in range(8))
    assert len(pids) == 8 and os.getpid() not in pids
    squares = list(workers(2, return_as="generator")(joblib.delayed(np.square)(i) for i in range(5)))
    assert squares == [0, 1, 4, 9, 16]


def test_a_backend_chosen_by_the_user_is_used_unchanged():
    with joblib.parallel_config(backend="threading"):
        parallel = workers(2)
        pids = parallel(joblib.delayed(_pid)(i) for i in range(4))
    assert type(parallel._backend).__name__ == "ThreadingBackend"
    assert set(pids) == {os.getpid()}


def test_a_loky_initializer_of_the_users_is_kept(tmp_path):
    with joblib.parallel_config(backend="loky", initializer=_mark, initargs=(str(tmp_path),)):
        workers(2)(joblib.delayed(_pid)(i) for i in range(4))
    assert list(tmp_path.glob("initialized-*")), "the user's initializer did not run"


def _mark(folder):
    Path(folder, f"initialized-{os.getpid()}").touch()
