"""The Python executor: a pool of forked worker processes that run a framework's Python tasks.

Mesos runs a framework's tasks through its *executor*, a process the
framework provides and the agent keeps alive across tasks, so launching a
small task costs a message, not a process.  jmesos's executor for Python
tasks is a pool of workers per framework per agent:

- a worker is forked from the (lean) agent process, so it starts in about a
  millisecond with the agent's modules (``dill`` included) already imported,
  and it dies with the agent (parent-death signal);
- it runs one task at a time and is reused; it keeps the functions it has
  loaded (``loads_call``'s cache), so ten thousand tasks of one function
  unpickle it once;
- the pool grows when tasks wait: at once up to the agent's cpus, then by
  one worker for each busy worker whose task has been asleep in the kernel
  (``sleep``, I/O, a lock) for ``GROW_DELAY``, so tasks that block each get
  a worker, while tasks that compute, or finish in under ``GROW_DELAY``,
  share the workers there are (forking more would only share the same CPUs);
- each worker sits in its own container (cgroups, or rlimits), created once;
  a task whose ``mem`` differs from the previous one costs one write;
- sandboxes are made lazily (see :class:`_Capture`): a task that prints
  nothing and ends quickly costs no file-system work at all.  A Python task
  runs in the agent's working directory; :func:`sandbox` gives it its own;
- a task killed while it runs takes its worker with it (SIGTERM to the
  worker's process group and container, SIGKILL after ``KILL_GRACE``); a new
  worker is forked when one is next needed.

Agent and worker talk over two pipes with length-prefixed pickles:
``("run", task_id, payload, sandbox, env, mem, capture_gen)`` in,
``("done", task_id, outcome, data, message, capture_gen)`` out, plus
framework messages both ways.  Inside a task, :func:`send_framework_message`
and :func:`messages` use the same pipes.
"""

from __future__ import annotations

import gc
import math
import mmap
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

from .containers import (
    Container,
    _stat,
    descendants,
    own_children,
    signal_snapshot,
    signal_tree,
    tree_snapshot,
)
from .lifetime import how_it_ended
from .serialize import OUT_OF_BAND_BYTES, Blob, SerializationError, dumps_value, loads_call, loads_value
from .tracebacks import visible
from .wire import (
    _HEADER,
    _OUT_OF_BAND,
    _consume,
    _queue,
    dump_frame,
    frame_layout,
    frame_missing,
    load_frame,
    take_frames,
)

if TYPE_CHECKING:  # pragma: no cover
    from .agent import Agent, _Task

__all__ = ["send_framework_message", "messages", "sandbox", "current_task_id", "PythonExecutor", "Worker", "new_worker"]

#: How long a task must have been running, asleep, before a queued task gets a new worker instead of waiting.
GROW_DELAY = 0.002
#: How long a killed task's worker gets between SIGTERM and SIGKILL.
KILL_GRACE = 2.0
#: A task still running this long after it started gets its sandbox (so its logs can be followed live).
PROMOTE_AFTER = 0.1
#: An idle worker is retired after this many seconds.
WORKER_IDLE_TIMEOUT = 60.0
#: Framework messages kept for an executor that no task has read yet.
INBOX_LIMIT = 10_000

# outcomes a worker reports
FINISHED, FAILED, ERROR, MEMORY = "finished", "failed", "error", "memory"


# ============================================================================== inside a task
class _WorkerLink:
    """The worker's ends of its pipes (only set inside a worker process)."""

    def __init__(self, cmd_fd: int, res_fd: int) -> None:
        self.cmd_fd = cmd_fd
        self.res_fd = res_fd
        self.task_id: str | None = None
        self.sandbox = ""
        self.sandbox_made = False
        self.capture: Any = None

    def send(self, obj: Any) -> None:
        _write_all(self.res_fd, dump_frame(obj))  # a big result leaves from where it lies (out of band)

    def recv(self) -> Any:
        """The next frame from the agent, None at end of file (the agent is done with us)."""
        header = _read_exact(self.cmd_fd, 4)
        if header is None:
            return None
        (word,) = _HEADER.unpack(header)
        if not word & _OUT_OF_BAND:  # the usual frame: a pickle and nothing else
            body = _read_exact(self.cmd_fd, word)
            return None if body is None else pickle.loads(body)
        buf = bytearray(header)
        while True:
            layout = frame_layout(buf, 0)
            if layout is not None:
                return load_frame(buf, layout)
            missing = frame_missing(buf)
            chunk = _read_exact(self.cmd_fd, missing)
            if chunk is None:
                return None
            buf += chunk


_link: _WorkerLink | None = None


def _require_task() -> _WorkerLink:
    if _link is None or _link.task_id is None:
        raise RuntimeError("this works only inside a jmesos Python task (a TaskInfo(fn=...) running on an agent)")
    return _link


def send_framework_message(data: Any) -> None:
    """Send ``data`` from the running task to its framework's scheduler (``Scheduler.framework_message``).

    Like Mesos's framework messages, delivery is best effort: a message sent
    while the agent is disconnected from the master is dropped.
    """
    link = _require_task()
    link.send(("fwmsg", bytes(dumps_value(data, "the framework message"))))


def messages(timeout: float = 0.0) -> list[Any]:
    """Framework messages (``driver.send_framework_message``) sent to this executor and not yet read.

    Each message is handed to one task, the first to ask.  With ``timeout``,
    wait up to that many seconds for at least one to arrive.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise ValueError(f"timeout={timeout!r} must be a number of seconds >= 0")
    link = _require_task()
    link.send(("getmsgs", float(min(timeout, 1e9))))
    while True:
        reply = link.recv()
        if reply is None:
            raise RuntimeError("the agent went away while this task waited for messages")
        if reply[0] == "msgs":
            return [loads_value(blob) for blob in reply[1]]


def sandbox() -> str:
    """The running task's sandbox directory, made now if it does not exist yet.

    Write files a task should leave behind here.  Its ``stdout`` and
    ``stderr`` files are linked in at once, so they show the task's output
    as it is printed.
    """
    link = _require_task()
    if not link.sandbox_made:
        _flush_std()
        link.capture.publish(link.sandbox)
        link.sandbox_made = True
    return link.sandbox


def current_task_id() -> str | None:
    """The id of the task this worker is running (None outside a task)."""
    return _link.task_id if _link is not None else None


# ============================================================================== pipe helpers
def _write_all(fd: int, chunks: list) -> None:
    """Write ``chunks`` (bytes-like) in order to a blocking ``fd``, a few system calls for all of them."""
    out: deque = deque(chunks)
    while out:
        _consume(out, os.writev(fd, list(islice(out, 64))))


def _read_exact(fd: int, n: int) -> bytes | None:
    chunks = []
    while n:
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks) if len(chunks) != 1 else chunks[0]


_read_buf: list[memoryview] = []


def _read_buffer() -> memoryview:
    """The agent's buffer for reading workers' pipes, made on first use.

    Reading into a fresh 1 MiB ``bytes`` each time cost an mmap, an mremap and
    a munmap per read.  An anonymous mapping: only the pages reads touch take memory.
    """
    if not _read_buf:
        _read_buf.append(memoryview(mmap.mmap(-1, 1 << 20, flags=mmap.MAP_PRIVATE)))
    return _read_buf[0]


def _set_pipe_size(fd: int, size: int = 1 << 20) -> None:
    try:
        import fcntl

        fcntl.fcntl(fd, 1031, size)  # F_SETPIPE_SZ: fewer wake-ups for big payloads and results
    except (OSError, ImportError, AttributeError):
        pass


# ============================================================================== the worker process
def _vsz_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _reap_leftovers(children: list[int]) -> None:
    """Kill the processes a finished task left running (its direct children) so they do not pile up."""
    for pid in children:
        for target in [*descendants(pid), pid]:
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _format_exception(exc: BaseException) -> str:
    tb = exc.__traceback__
    # drop the worker's own frame: the traceback starts in the task's function
    return "".join(traceback.format_exception(type(exc), exc, visible(tb.tb_next if tb else None)))


class _Capture:
    """The files a worker's fds 1 and 2 write to, linked into a task's sandbox when worth keeping.

    Making a sandbox directory and two files costs ~150 us of file-system work
    per task (and fills the worker's memory cgroup with metadata), which is
    more than the rest of a small task.  So a worker writes every task's
    output to its own capture files, named by generation, and only when a task
    printed something, ran long enough for the agent to link them
    (:data:`PROMOTE_AFTER`), crashed, or asked for :func:`sandbox`, do they get
    hard-linked into ``{sandbox}/stdout`` and ``stderr`` and replaced by a
    fresh pair for the next task.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.pid = os.getpid()
        self.gen = -1
        self.files: tuple = ()  # (device, inode) of the files fds 1 and 2 were pointed at

    def still_ours(self, out: os.stat_result, err: os.stat_result) -> bool:
        """Whether fds 1 and 2 still write to this pair of files (a task can close or redirect them)."""
        return ((out.st_dev, out.st_ino), (err.st_dev, err.st_ino)) == self.files

    def path(self, gen: int, stream: str) -> str:
        return capture_path(self.directory, self.pid, gen, stream)

    def rotate(self, gen: int) -> None:
        """Point fds 1 and 2 at a fresh pair of files of generation ``gen``."""
        _flush_std()
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC
        files = []
        for fd, stream in ((1, "stdout"), (2, "stderr")):
            new = os.open(self.path(gen, stream), flags, 0o644)
            st = os.fstat(new)
            files.append((st.st_dev, st.st_ino))
            if new != fd:
                os.dup2(new, fd)
                os.close(new)
            else:  # a task closed that fd, the lowest free one, which open handed out: the tasks' children need it
                os.set_inheritable(fd, True)
            if self.gen >= 0:
                try:
                    os.unlink(self.path(self.gen, stream))
                except FileNotFoundError:
                    pass
        self.gen = gen
        self.files = tuple(files)

    def publish(self, sandbox: str) -> None:
        """Make ``sandbox`` and link the current files into it (live: later writes show there too)."""
        publish_capture(self.directory, self.pid, self.gen, sandbox)

    def remove(self) -> None:
        for stream in ("stdout", "stderr"):
            try:
                os.unlink(self.path(self.gen, stream))
            except OSError:
                pass


def capture_path(directory: str, pid: int, gen: int, stream: str) -> str:
    """Where worker ``pid`` captures ``stream`` for generation ``gen``."""
    return os.path.join(directory, f"w{pid}-{gen}.{stream}")


def remove_captures(directory: str, pid: int) -> None:
    """Delete what is left of worker ``pid``'s capture files (it is gone)."""
    prefix = f"w{pid}-"
    try:
        for name in os.listdir(directory):
            if name.startswith(prefix):
                os.unlink(os.path.join(directory, name))
    except OSError:
        pass


def make_dir(path: str) -> None:
    try:
        os.mkdir(path)
    except FileExistsError:
        pass
    except FileNotFoundError:
        os.makedirs(path, exist_ok=True)


def publish_capture(directory: str, pid: int, gen: int, sandbox: str) -> bool:
    """Link worker ``pid``'s capture files of ``gen`` into ``sandbox``; False if they are gone already."""
    make_dir(sandbox)
    for stream in ("stdout", "stderr"):
        source = capture_path(directory, pid, gen, stream)
        target = os.path.join(sandbox, stream)
        try:
            os.link(source, target)
        except FileNotFoundError:
            return False
        except FileExistsError:
            try:
                if os.stat(source).st_ino == os.stat(target).st_ino:
                    continue  # the agent (or the worker) linked it already
                os.link(source, target + ".new")  # a task id that ran here before: the new run wins
                os.replace(target + ".new", target)
            except FileNotFoundError:
                return False
        except OSError:  # no hard links here (another file system): a copy, as it is now
            import shutil

            try:
                shutil.copyfile(source, target)
            except FileNotFoundError:
                return False
    return True


def _worker_main(link: _WorkerLink, rlimit: Container | None, enforces_memory: bool, capture_dir: str) -> None:
    """Serve tasks until the agent closes the command pipe."""
    cache: dict[str, Callable[..., Any]] = {}
    base_vsz = _vsz_bytes()
    applied_mem: float | None = None
    capture = link.capture = _Capture(capture_dir)
    capture.rotate(0)
    own_threads = {t.ident for t in threading.enumerate()}
    while True:
        frame = link.recv()
        if frame is None:
            capture.remove()
            return
        if frame[0] != "run":
            continue  # a late reply to messages(): nobody waits for it now
        _, task_id, payload, sandbox, env, mem, gen = frame
        if rlimit is not None and mem != applied_mem:
            rlimit.mem = mem
            rlimit.apply_rlimits(base_vsz)
            applied_mem = mem
        if gen != capture.gen:  # the agent linked the last files into a sandbox
            capture.rotate(gen)
        outcome, data, message = FINISHED, None, ""
        saved_env: dict[str, str | None] = {}
        link.task_id = task_id
        link.sandbox = sandbox
        link.sandbox_made = False
        try:
            if env:
                for key, value in env.items():
                    saved_env[key] = os.environ.get(key)
                    os.environ[key] = str(value)
            try:
                fn, args, kwargs = loads_call(payload, cache)
            except BaseException as exc:  # noqa: BLE001 - a task must never take the worker down
                outcome = ERROR
                message = f"the task's code cannot be loaded on this agent: {type(exc).__name__}: {exc}" + (
                    " (install that module where the agents run)" if isinstance(exc, ImportError) else ""
                )
            else:
                try:
                    value = fn(*args, **kwargs)
                except MemoryError as exc:
                    outcome = MEMORY if enforces_memory else FAILED
                    message = _format_exception(exc)
                except SystemExit as exc:  # like a command's exit status: 0 (or none) is success
                    if exc.code not in (None, 0):
                        outcome = FAILED
                        message = _format_exception(exc)
                except BaseException as exc:  # noqa: BLE001 - KeyboardInterrupt fails the task too
                    outcome = FAILED
                    message = _format_exception(exc)
                else:
                    try:  # None travels as no data at all
                        data = None if value is None else dumps_value(value, "the task's return value")
                        if data is not None and len(data) < OUT_OF_BAND_BYTES:
                            data = bytes(data)  # plain bytes pickle in C; a Blob only pays off out of band
                    except SerializationError as exc:
                        outcome = FAILED
                        message = f"the task finished but its result cannot be sent back: {exc}"
                    except MemoryError as exc:
                        outcome = MEMORY if enforces_memory else FAILED
                        message = f"the task finished but serialising its result ran out of memory: {exc!r}"
                del fn, args, kwargs
                value = None
        finally:
            link.task_id = None
            if outcome != FINISHED and message:
                try:  # the task's stderr tells what went wrong, as a process's would
                    os.write(2, (message.rstrip("\n") + "\n").encode(errors="replace"))
                except OSError:
                    pass
            _flush_std()
            for key, old in saved_env.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
        stray = []
        if threading.active_count() != len(own_threads):  # cheap, where enumerate() builds a list every task
            stray = [t.name for t in threading.enumerate() if t.ident not in own_threads]
        if stray:  # they would run on into later tasks: this worker takes no more
            note = (
                f"jmesos: the task left {len(stray)} thread{'s' if len(stray) > 1 else ''} running "
                f"({', '.join(stray)}); its worker is retired so they cannot touch later tasks\n"
            )
            try:
                os.write(2, note.encode(errors="replace"))
            except OSError:
                pass
        try:
            out, err = os.fstat(1), os.fstat(2)
            changed = not capture.still_ours(out, err)
        except OSError:  # the task closed its stdout or stderr
            changed = True
        if changed:  # what it wrote before is kept, and the next task gets streams again (it crashed the worker)
            publish = True
        else:
            publish = out.st_size or err.st_size or out.st_nlink > 1 or err.st_nlink > 1 or link.sandbox_made
        if publish:
            try:
                capture.publish(sandbox)
            except OSError as exc:
                message += f"\n(the task's output could not be saved in {sandbox}: {exc})"
            capture.rotate(capture.gen + 1)
        leftovers = own_children()
        if leftovers:
            _reap_leftovers(leftovers)
        try:
            link.send(("done", task_id, outcome, data, message, capture.gen, bool(stray)))
        except (pickle.PicklingError, MemoryError) as exc:
            failure = f"the result could not be sent: {exc!r}"
            link.send(("done", task_id, FAILED, None, failure, capture.gen, bool(stray)))


def _flush_std() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass


def _child(
    cmd_r: int, res_w: int, agent_pid: int, rlimit: Container | None, enforces_memory: bool, capture_dir: str
) -> None:
    """Runs in the forked worker: detach from the agent's loop, then serve tasks."""
    global _link
    from .lifetime import die_with_parent

    os.setsid()  # its own process group: killing a task kills everything it started
    die_with_parent(parent=agent_pid)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1, signal.SIGUSR2):
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
    try:
        signal.set_wakeup_fd(-1)
    except (ValueError, OSError):
        pass
    # keep only stdio and our two pipes: the agent's sockets and other workers' pipes are not ours
    keep = sorted({cmd_r, res_w})
    low = 3
    for fd in keep:
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, max(low, _max_fd()))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # a killed task's prints reach its log
        except (AttributeError, ValueError, OSError):
            pass
    _link = _WorkerLink(cmd_r, res_w)
    _worker_main(_link, rlimit, enforces_memory, capture_dir)


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):
        return 65536


# ============================================================================== the agent's side
class Worker:
    """The agent's handle on one worker process."""

    __slots__ = (
        "pid",
        "cmd_fd",
        "res_fd",
        "container",
        "task",
        "inbuf",
        "outbuf",
        "killing",
        "expected_exit",
        "idle_since",
        "oom_seen",
        "number",
        "retire",
        "dead",
        "gen",
        "linked_gen",
        "on_exit",
    )

    def __init__(self, pid: int, cmd_fd: int, res_fd: int, container: Container, number: int) -> None:
        self.pid = pid
        self.cmd_fd = cmd_fd
        self.res_fd = res_fd
        self.container = container
        self.task: _Task | None = None
        self.inbuf = bytearray()
        self.outbuf: deque = deque()  # chunks the pipe has not taken yet
        self.killing = False  # we signalled it: its death is expected
        self.expected_exit = False
        self.idle_since = time.monotonic()
        self.oom_seen = 0
        self.number = number
        self.retire = False  # do not reuse after the current task
        self.dead = False
        self.gen = 0  # generation of the capture files the next task writes to
        self.linked_gen = -1  # the generation the agent linked into a sandbox
        self.on_exit: Callable[[int], None] | None = None  # set by whoever owns the worker now

    def send(self, obj: Any) -> bool:
        """Queue a frame and write what the pipe takes now; False if the worker is gone."""
        for chunk in dump_frame(obj):  # a big payload leaves from where it lies (out of band)
            _queue(self.outbuf, chunk)
        return self.write()

    def write(self) -> bool:
        if self.cmd_fd < 0:
            return False
        try:
            out = self.outbuf
            while out:
                _consume(
                    out,
                    os.write(self.cmd_fd, out[0]) if len(out) == 1 else os.writev(self.cmd_fd, list(islice(out, 64))),
                )
        except BlockingIOError:
            pass
        except OSError:
            self.outbuf.clear()
            return False
        return True

    def read_frames(self) -> tuple[list[Any], bool]:
        """Frames that arrived, and whether the pipe reached end of file."""
        eof = False
        buf = _read_buffer()
        while True:
            try:
                n = os.readv(self.res_fd, [buf])  # into a reused buffer: no mmap/munmap per read
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not n:
                eof = True
                break
            self.inbuf += buf[:n]
            if n < len(buf):
                break
        taken, broken = take_frames(self.inbuf)
        frames = []
        for frame, error in taken:
            if error is None:
                frames.append(frame)
            else:  # a corrupt frame must not take the agent down
                print(f"jmesos agent: undecodable frame from worker {self.pid}: {error!r}", file=sys.stderr)
        if broken:  # a worker gone wrong: what it sends now cannot be framed
            print(f"jmesos agent: unreadable frame from worker {self.pid}: {broken}", file=sys.stderr)
            return frames, True
        return frames, eof

    def signal_tree(self, sig: int) -> None:
        """``sig`` to the worker, everything in its process group, its descendants and its container."""
        signal_tree(self.pid, self.container, sig)

    def close_pipes(self) -> None:
        for name in ("cmd_fd", "res_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)


def spawn_worker(container: Container, *, rlimit: bool, enforces_memory: bool, number: int, capture_dir: str) -> Worker:
    """Fork a worker into ``container``.  Raises OSError when the system refuses."""
    cmd_r, cmd_w = os.pipe()
    res_r, res_w = os.pipe()
    _set_pipe_size(cmd_w)
    _set_pipe_size(res_w)
    agent_pid = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the child never collects the agent's objects (no copy-on-write churn, no stray finalisers)
    try:
        pid = os.fork()
    except OSError:
        gc.unfreeze()
        for fd in (cmd_r, cmd_w, res_r, res_w):
            os.close(fd)
        raise
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            _child(cmd_r, res_w, agent_pid, container if rlimit else None, enforces_memory, capture_dir)
        except BaseException:  # noqa: BLE001
            code = 70
            try:
                traceback.print_exc()
            except Exception:  # noqa: BLE001
                pass
        finally:
            os._exit(code)
    gc.unfreeze()
    os.close(cmd_r)
    os.close(res_w)
    os.set_blocking(cmd_w, False)
    os.set_blocking(res_r, False)
    worker = Worker(pid, cmd_w, res_r, container, number)
    try:
        container.add(pid)
    except OSError:
        worker.signal_tree(signal.SIGKILL)
        worker.close_pipes()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        raise
    return worker


def new_worker(agent: Agent) -> Worker | None:
    """Fork a worker into a container of its own and watch for its end; None (logged) if the system refuses."""
    try:
        container = agent.isolator.container("w")
    except OSError as exc:
        print(f"jmesos agent: cannot create a container for a worker: {exc}", file=sys.stderr)
        return None
    try:
        worker = spawn_worker(
            container,
            rlimit=container.kind == "rlimit",
            enforces_memory=agent.isolator.enforces_memory,
            number=0,
            capture_dir=agent.capture_dir,
        )
    except OSError as exc:
        print(f"jmesos agent: cannot fork a worker: {exc}", file=sys.stderr)
        container.destroy()
        return None
    agent.watch_child(worker.pid, lambda status, w=worker: w.on_exit(status) if w.on_exit is not None else None)
    return worker


class PythonExecutor:
    """One framework's Python executor on this agent: its workers, queue and message inbox."""

    def __init__(self, agent: Agent, framework_id: str, parallel: int, max_workers: int) -> None:
        self.agent = agent
        self.framework_id = framework_id
        self.parallel = max(1, parallel)
        self.max_workers = max(1, max_workers)
        self.workers: dict[int, Worker] = {}
        self.idle: list[Worker] = []
        self.queue: deque[_Task] = deque()
        self.inbox: deque[bytes] = deque()
        self.waiters: deque[tuple[Worker, float]] = deque()
        self._next_check = 0.0
        self._numbers = 0

    # -------------------------------------------------------------- tasks
    def launch(self, task: _Task) -> None:
        """Run ``task`` on an idle worker, or queue it until :meth:`balance` finds or makes one."""
        idle = self.idle
        while idle:
            worker = idle.pop()
            if not worker.dead:
                self._start(worker, task)
                return
        task.queued_at = time.monotonic()
        self.queue.append(task)
        self.agent._queued_executors.add(self)

    def _start(self, worker: Worker, task: _Task) -> None:
        container = worker.container
        if container.kind != "none" and (task.mem != container.mem or task.cpus != container.cpus):
            try:
                fits = container.set_limits(task.mem, task.cpus)
            except OSError as exc:  # not "too much in use": the container itself is broken
                self._retire(worker)
                self.agent._task_ended(
                    task,
                    "TASK_ERROR",
                    "REASON_CONTAINER_LAUNCH_FAILED",
                    f"cannot give the task's container mem={task.mem:g} MiB, cpus={task.cpus:g}: {exc}",
                )
                return
            if not fits:  # the worker holds more memory than this task may use: start afresh
                self._retire(worker)
                self.queue.appendleft(task)
                task.queued_at = time.monotonic() - GROW_DELAY
                self.agent._queued_executors.add(self)
                return
        if worker.linked_gen == worker.gen:  # the agent linked those files into the last task's sandbox
            worker.gen += 1
        worker.task = task
        task.worker = worker
        task.capture_gen = worker.gen
        task.dispatched_at = time.monotonic()
        self.agent._pending_start.append(task)
        mem = task.mem if container.kind == "rlimit" else None
        self._send(worker, ("run", task.task_id, task.info.payload, task.sandbox, task.info.env, mem, worker.gen))

    def _send(self, worker: Worker, frame: Any) -> None:
        """Write a frame to a worker; if its pipe is full, the agent's loop finishes the write."""
        if worker.send(frame) and worker.outbuf:
            self.agent._blocked_workers.add(worker)
        # a worker that is gone is reported by its exit handler

    def balance(self, now: float) -> None:
        """Start queued tasks on idle workers, and grow the pool when tasks wait behind blocked ones.

        Up to the agent's cpus, a waiting task gets a new worker at once.
        Beyond that, a worker is added for each busy worker that has been on
        its task for ``GROW_DELAY`` and is asleep in the kernel (``sleep``,
        I/O, a lock): those tasks leave the CPU free, so another task can run.
        Workers that are computing, or whose result is already in the pipe, do
        not count: forking more of them would only share the same CPUs.
        """
        queue = self.queue
        while queue and self.idle:
            worker = self.idle.pop()
            if not worker.dead:
                self._start(worker, queue.popleft())
        if not queue:
            return
        size = len(self.workers)
        room = self.max_workers - size
        if room <= 0 or self.agent.stopping:
            return
        if size < self.parallel:
            count = self.parallel - size
        else:
            if now < self._next_check or now - queue[0].queued_at < GROW_DELAY:
                return
            self._next_check = now + GROW_DELAY
            count = 0
            for worker in list(self.workers.values()):
                task = worker.task
                if task is None or worker.killing or now - task.dispatched_at < GROW_DELAY:
                    continue
                self._on_readable(worker)  # its result may be waiting in the pipe
                if worker.task is task and _asleep(worker.pid):
                    count += 1
                    if count >= len(queue):
                        break
            count = min(count, len(queue))
        for _ in range(min(count, room)):
            if not queue:
                break
            worker = self._spawn()
            if worker is None:
                if not self.workers:  # nothing will ever run these: fail them rather than hang
                    while queue:
                        self.agent._task_ended(
                            queue.popleft(),
                            "TASK_ERROR",
                            "REASON_CONTAINER_LAUNCH_FAILED",
                            "the agent cannot start a Python worker (fork or container failed; see the agent's log)",
                        )
                return
            self._start(worker, queue.popleft())

    def next_deadline(self) -> float:
        if not self.queue:
            return math.inf
        return max(self._next_check, self.queue[0].queued_at + GROW_DELAY)

    def _spawn(self) -> Worker | None:
        agent = self.agent
        self._numbers += 1
        worker = agent.take_spare() or new_worker(agent)
        if worker is None:
            return None
        worker.number = self._numbers
        worker.on_exit = lambda status, w=worker: self._on_exit(w, status)
        self.workers[worker.pid] = worker
        agent.hub.add_reader(worker.res_fd, lambda w=worker: agent._safely(lambda: self._on_readable(w)))
        return worker

    def kill(self, task: _Task) -> None:
        """Kill ``task``: drop it from the queue, or take its worker down (SIGTERM, SIGKILL after a grace)."""
        try:
            self.queue.remove(task)
        except ValueError:
            pass
        else:
            self.agent._task_killed(task)
            return
        worker = task.worker
        if worker is None or worker.dead:
            self.agent._task_killed(task)
            return
        self._kill_worker(worker)

    def _kill_worker(self, worker: Worker, grace: float = KILL_GRACE) -> None:
        if worker.killing:
            return
        worker.killing = True
        worker.retire = True
        # taken before SIGTERM: what ignores it must still get the SIGKILL once the worker is gone
        tree = [] if worker.container.paths else tree_snapshot(worker.pid)
        worker.signal_tree(signal.SIGTERM)

        def finish() -> None:
            if not worker.dead:
                worker.signal_tree(signal.SIGKILL)
            signal_snapshot(tree, signal.SIGKILL)

        self.agent.call_later(grace, finish)

    def _retire(self, worker: Worker) -> None:
        """Let an idle worker go: closing its command pipe ends its loop."""
        worker.expected_exit = True
        worker.retire = True
        try:
            self.idle.remove(worker)
        except ValueError:
            pass
        if worker.cmd_fd >= 0:
            try:
                os.close(worker.cmd_fd)
            except OSError:
                pass
            worker.cmd_fd = -1
        self.agent.call_later(KILL_GRACE, lambda: None if worker.dead else worker.signal_tree(signal.SIGKILL))

    def retire_idle(self, now: float, older_than: float = WORKER_IDLE_TIMEOUT) -> None:
        for worker in [w for w in self.idle if now - w.idle_since >= older_than]:
            self._retire(worker)

    def shutdown(self, grace: float = KILL_GRACE) -> None:
        """Stop every worker (their tasks are the caller's to report, or not)."""
        for task in self.queue:
            task.worker = None
        self.queue.clear()
        for worker in list(self.workers.values()):
            if worker.task is None:
                self._retire(worker)
            else:
                self._kill_worker(worker, grace)

    def is_empty(self) -> bool:
        return not self.workers and not self.queue

    # -------------------------------------------------------------- framework messages
    def deliver(self, data: Any) -> None:
        """A framework message for this executor: to a task waiting in :func:`messages`, or the inbox."""
        try:  # a live driver sends it serialised already
            blob = bytes(data) if isinstance(data, Blob) else bytes(dumps_value(data, "the framework message"))
        except SerializationError as exc:
            print(f"jmesos agent: dropping a framework message for {self.framework_id}: {exc}", file=sys.stderr)
            return
        while self.waiters:
            worker, _deadline = self.waiters.popleft()
            if not worker.dead and worker.task is not None:
                self._send(worker, ("msgs", [blob]))
                return
        if len(self.inbox) >= INBOX_LIMIT:
            self.inbox.popleft()
            print(
                f"jmesos agent: the inbox of {self.framework_id}'s executor is full; dropped its oldest message",
                file=sys.stderr,
            )
        self.inbox.append(blob)

    def expire_waiters(self, now: float) -> None:
        keep: deque[tuple[Worker, float]] = deque()
        for worker, deadline in self.waiters:
            if worker.dead or worker.task is None:
                continue
            if deadline <= now:
                self._send(worker, ("msgs", []))
            else:
                keep.append((worker, deadline))
        self.waiters = keep

    def waiter_deadline(self) -> float:
        return min((d for _, d in self.waiters), default=math.inf)

    # -------------------------------------------------------------- worker events
    def _on_readable(self, worker: Worker) -> None:
        frames, eof = worker.read_frames()
        for frame in frames:
            try:
                self._on_frame(worker, frame)
            except Exception as exc:  # noqa: BLE001
                print(f"jmesos agent: bad frame from worker {worker.pid}: {exc!r}", file=sys.stderr)
        if eof:
            self.agent.hub.remove_reader(worker.res_fd)

    def _on_frame(self, worker: Worker, frame: Any) -> None:
        kind = frame[0]
        if kind == "done":
            _, task_id, outcome, data, message, gen, stray_threads = frame
            if stray_threads:
                worker.retire = True
            if gen > worker.gen:
                worker.gen = gen
            task = worker.task
            if task is None or task.task_id != task_id:
                return
            worker.task = None
            task.worker = None
            now = time.monotonic()
            agent = self.agent
            if outcome == FINISHED:
                agent._python_finished(task, data)
            else:
                if outcome == FAILED and worker.container.paths:
                    kills = worker.container.oom_kills()  # did a child of the task hit the limit?
                    if kills > worker.oom_seen:
                        worker.oom_seen = kills
                        outcome = MEMORY
                if outcome == MEMORY:
                    worker.retire = True
                    message = _memory_message(task, worker.container) + "\n" + message
                agent._python_failed(task, outcome, message)
            self.waiters = deque((w, d) for w, d in self.waiters if w is not worker)
            if worker.retire or worker.dead:
                if not worker.killing:
                    self._retire(worker)
                return
            worker.idle_since = now
            if self.queue:
                self._start(worker, self.queue.popleft())
            else:
                self.idle.append(worker)
        elif kind == "fwmsg":
            self.agent._executor_message(self.framework_id, frame[1])
        elif kind == "getmsgs":
            if self.inbox:
                blobs = list(self.inbox)
                self.inbox.clear()
                self._send(worker, ("msgs", blobs))
            elif frame[1] <= 0:
                self._send(worker, ("msgs", []))
            else:
                self.waiters.append((worker, time.monotonic() + frame[1]))
                self.agent._waiting_executors.add(self)

    def promote(self, task: _Task) -> None:
        """Give a task that is still running its sandbox now, so its logs can be followed live."""
        worker = task.worker
        if worker is None or worker.dead or worker.task is not task:
            return
        try:
            if publish_capture(self.agent.capture_dir, worker.pid, task.capture_gen, task.sandbox):
                worker.linked_gen = task.capture_gen
        except OSError as exc:
            print(f"jmesos agent: cannot make the sandbox {task.sandbox}: {exc}", file=sys.stderr)

    def _on_exit(self, worker: Worker, status: int) -> None:
        """The worker process is gone (status: exit code, or minus the signal number)."""
        if worker.res_fd >= 0:
            self._on_readable(worker)  # a result written just before dying still counts
            self.agent.hub.remove_reader(worker.res_fd)
        worker.dead = True
        worker.close_pipes()
        self.workers.pop(worker.pid, None)
        try:
            self.idle.remove(worker)
        except ValueError:
            pass
        task = worker.task
        worker.task = None
        directory = self.agent.capture_dir
        if task is not None:  # keep what a killed or crashed task printed
            try:
                publish_capture(directory, worker.pid, task.capture_gen, task.sandbox)
            except OSError:
                pass
        remove_captures(directory, worker.pid)
        oom = False
        if worker.container.paths:
            try:
                oom = worker.container.oom_kills() > worker.oom_seen
            except OSError:
                oom = False
        self.agent.destroy_container(worker.container)
        if task is not None:
            task.worker = None
            if task.killing:
                self.agent._task_killed(task)
            elif oom:
                self.agent._python_failed(task, MEMORY, _memory_message(task, worker.container))
            else:
                note = ""
                if worker.container.kind == "rlimit" and worker.container.mem:
                    # no cgroup to tell: native code that cannot allocate (OpenBLAS, say) often just exits
                    note = (
                        f"; without cgroups its memory is an address-space limit ({worker.container.mem:g} MiB for the task "
                        "plus the executor's share), which native libraries can run out of even to load: "
                        "if the task's stderr mentions memory, give the task more mem"
                    )
                self.agent._python_failed(
                    task,
                    "crashed",
                    f"the Python worker running the task {how_it_ended(status)} before the task returned "
                    f"(a crash in native code, os._exit, or a signal); the worker is replaced{note}",
                )
        if not worker.killing and not worker.expected_exit:
            self.agent._executor_exited(self.framework_id, f"python-worker-{worker.pid}", status)
        if self.queue:
            self.agent._queued_executors.add(self)
        self.agent._executor_maybe_done(self)


def _asleep(pid: int) -> bool:
    """True when process ``pid`` is blocked in the kernel (state S or D), not running or runnable."""
    fields = _stat(pid)
    return fields is not None and fields[0] in (b"S", b"D")


def _memory_message(task: _Task, container: Container) -> str:
    from .containers import EXECUTOR_OVERHEAD_MIB

    limit = f"{task.mem:g} MiB + {EXECUTOR_OVERHEAD_MIB:g} MiB for the interpreter" if task.mem else "no limit"
    how = "the operating system's OOM killer stopped it" if container.paths else "an allocation failed"
    return f"task {task.task_id!r} used more memory than its mem={task.mem:g} MiB allows ({limit}); {how}"
