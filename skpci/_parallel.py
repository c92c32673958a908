"""joblib workers that do not outlive the process that started them, and whose warnings reach the user.

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
import pickle
import sys
import threading
import time
import warnings
from pathlib import Path

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


def call_keeping_warnings(function, *args, **kwargs):
    """Call ``function`` (in a joblib worker) and return its result with the warnings it raised.

    A warning raised in a worker points at joblib's code, or, in a worker
    process, is printed there, out of reach of the user's filters. Returned
    to the parent, :func:`rewarn` raises it again at the user's call.
    Warnings are caught only in a process's main thread (loky workers, or
    joblib running the tasks in the caller): ``warnings.catch_warnings`` is
    not thread-safe, so warnings of thread workers stay as they are.

    Returns
    -------
    result : object
    caught : list of Warning
    """
    if threading.current_thread() is not threading.main_thread():
        return function(*args, **kwargs), []
    # The worker's filters still apply (library deprecations stay hidden); the parent's decide again.
    with warnings.catch_warnings(record=True) as caught:
        result = function(*args, **kwargs)
    return result, [_portable(record.message) for record in caught]


def rewarn(caught):
    """Raise warnings caught by :func:`call_keeping_warnings` again, at the user's line (:func:`user_stacklevel`)."""
    if caught:
        level = user_stacklevel()
        for message in caught:
            warnings.warn(message, stacklevel=level)


def user_stacklevel():
    """The ``stacklevel`` that makes a warning raised by the caller point at the first line outside skpci.

    joblib's and scikit-learn's frames are skipped too, so a warning inside
    ``cross_val_score(pipeline, ...)`` or behind scikit-learn's ``set_output``
    wrapper of ``transform`` points at the user's call.
    """
    libraries = [sys.modules.get(name) for name in (__package__, "joblib", "sklearn")]
    folders = tuple(str(Path(module.__file__).resolve().parent) + os.sep for module in libraries if module)
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(folders):
        frame, level = frame.f_back, level + 1
    return level


def _portable(message):
    """A caught warning that survives the trip from a worker process (pickling), or its text as a UserWarning."""
    try:
        pickle.loads(pickle.dumps(message))
    except Exception:
        return UserWarning(f"{type(message).__name__}: {message}")
    return message
