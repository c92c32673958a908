"""joblib workers that do not outlive the process that started them.

joblib's default backend, loky, keeps its worker processes for reuse. When
the parent is killed (Ctrl-\\, ``kill -9``, a batch scheduler's time limit),
the workers and loky's resource tracker are re-parented to init and stay,
holding memory and open files, until their idle timeout. :func:`workers`
gives each loky worker a watchdog thread, started by the executor's
initializer before any task runs, that exits the worker once its parent
process is gone. Any other backend the user chose with
``joblib.parallel_config`` (dask, threads) is used unchanged.
"""

import os
import threading
import time

from joblib import Parallel
from joblib.parallel import LokyBackend, get_active_backend

#: Seconds between two checks of whether the parent process is still there.
PARENT_POLL_SECONDS = 0.5


def workers(n_jobs, **parallel_kwargs):
    """A :class:`joblib.Parallel` whose loky workers exit with their parent.

    Parameters
    ----------
    n_jobs : int or None
        As for :class:`joblib.Parallel`.
    **parallel_kwargs
        Passed to :class:`joblib.Parallel` (``return_as``, ``batch_size``...).

    Returns
    -------
    joblib.Parallel
    """
    backend, _ = get_active_backend()
    if type(backend) is LokyBackend and "initializer" not in backend.backend_kwargs:
        backend = LokyBackend(
            nesting_level=backend.nesting_level, inner_max_num_threads=backend.inner_max_num_threads,
            **backend.backend_kwargs, initializer=watch_parent, initargs=(os.getpid(),),
        )
        return Parallel(n_jobs=n_jobs, backend=backend, **parallel_kwargs)
    return Parallel(n_jobs=n_jobs, **parallel_kwargs)


def watch_parent(parent_pid):
    """Start a daemon thread that ends this process once ``parent_pid`` is no longer its parent.

    Runs in each new worker. A parent that died before this ran is caught
    too: the worker's parent is then already someone else.
    """
    thread = threading.Thread(target=_exit_when_orphaned, args=(parent_pid,), name="skpci-watch-parent",
                              daemon=True)
    thread.start()


def _exit_when_orphaned(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
