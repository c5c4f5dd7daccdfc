"""The command line (``python -m jmesos demo | master | agent``): bad input gets one line naming the option.

Every command runs as a real subprocess, as a user would run it; a command that
should refuse its arguments must do so at once, so each has a short timeout.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from .processes import listening_port

pytestmark = pytest.mark.usefixtures("no_leaks")


def jmesos(*args: str, cwd=None, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jmesos", *args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def assert_refused(done: subprocess.CompletedProcess, option: str, code: int = 2) -> str:
    """``done`` failed with ``code`` and one line on stderr that names ``option``; returns that line."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert option in lines[0], done.stderr
    assert done.returncode == code, (done.returncode, done.stderr)
    return lines[0]


def free_port() -> int:
    """A port nothing listens on (taken and released: fine for a connection that should be refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret"
    path.write_text("the-cluster-secret")
    return str(path)


# ------------------------------------------------------------------------------ demo
@pytest.mark.parametrize(
    "args, option",
    [
        (["--tasks", "0"], "--tasks"),
        (["--tasks", "-5"], "--tasks"),
        (["--agents", "0", "--tasks", "5"], "--agents"),
        (["--agents", "-1"], "--agents"),
        (["--agents", "300"], "--agents"),
        (["--samples", "0"], "--samples"),
        (["--samples", "-2"], "--samples"),
    ],
)
def test_demo_refuses_counts_it_cannot_run_at_once(args, option):
    line = assert_refused(jmesos("demo", *args, timeout=10), option)
    assert "between 1 and 256" in line if option == "--agents" else "1 or more" in line


def test_demo_interrupted_says_so_in_one_line_and_stops_the_cluster():
    demo = subprocess.Popen(
        [sys.executable, "-u", "-m", "jmesos", "demo", "--agents", "2", "--tasks", "100000", "--samples", "100000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in demo.stdout:
            if "estimating pi" in line:
                break
        time.sleep(0.3)  # tasks are running
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=30)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert "Traceback" not in err, err
    assert err.splitlines() == ["interrupted; the cluster was stopped"], err
    assert demo.returncode == 130


def test_help_into_a_pipe_nobody_reads_ends_quietly():
    """``jmesos --help | head -1`` where head has gone: a BrokenPipeError traceback."""
    import os

    gone, pipe = os.pipe()
    os.close(gone)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "jmesos", "--help"], stdout=pipe, stderr=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(pipe)
    assert done.stderr == "" and done.returncode == 0


def test_the_demo_piped_into_a_reader_that_leaves_ends_quietly():
    """``python -m jmesos demo | head -1``: the demo waited out its 300 s timeout, printing a traceback an offer."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "jmesos", "demo", "--agents", "2", "--tasks", "400"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline()
        proc.stdout.close()  # as head does after its lines
        err = proc.stderr.read()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert proc.returncode == 0


# ------------------------------------------------------------------------------ master
@pytest.mark.parametrize(
    "args, option",
    [
        (["--policy", "nosuch"], "--policy"),
        (["--allocation-interval", "0"], "--allocation-interval"),
        (["--ping-interval", "0"], "--ping-interval"),
        (["--max-missed-pings", "0"], "--max-missed-pings"),
        (["--offer-timeout", "-3"], "--offer-timeout"),
    ],
)
def test_master_refuses_bad_settings_naming_the_option(tmp_path, args, option):
    done = jmesos("master", "--port", "0", "--secret-file", str(tmp_path / "s"), *args, cwd=tmp_path, timeout=10)
    assert_refused(done, option)
    assert not (tmp_path / "s").exists()  # refused before it wrote a secret


@pytest.mark.parametrize("kind", ["in a missing directory", "a directory", "an empty file", "a short secret"])
def test_master_refuses_a_secret_file_it_cannot_use(tmp_path, kind):
    path = {
        "in a missing directory": tmp_path / "nonexistent" / "s",
        "a directory": tmp_path,
        "an empty file": tmp_path / "empty",
        "a short secret": tmp_path / "short",
    }[kind]
    if kind == "an empty file":
        path.write_text("")
    if kind == "a short secret":
        path.write_text("abc\n")
    done = jmesos("master", "--port", "0", "--secret-file", str(path), cwd=tmp_path, timeout=10)
    line = assert_refused(done, "--secret-file")
    if kind == "a short secret":
        assert "holds a secret of 3 bytes, too easy to guess; use at least 16" in line


def test_a_master_on_every_address_tells_agents_its_name_not_0_0_0_0(tmp_path):
    """``--master 0.0.0.0:5050`` works only on the master's own machine, yet the hint said so."""
    master = subprocess.Popen(
        [sys.executable, "-m", "jmesos", "master", "--host", "0.0.0.0", "--port", "0", "--secret-file", "s"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = listening_port(master.stdout.readline(), host="0.0.0.0")
        hint = master.stdout.readline()
    finally:
        master.terminate()
        master.communicate(timeout=10)
    assert f"--master {socket.gethostname()}:{port} --secret-file s (copy the secret file" in hint, hint


def test_master_that_cannot_listen_points_at_host_or_port_as_the_cause_is(tmp_path):
    # 192.0.2.1 is TEST-NET-1: no machine has it, and no name lookup is needed to know
    done = jmesos("master", "--host", "192.0.2.1", "--port", "0", "--secret-file", str(tmp_path / "s"), timeout=10)
    line = assert_refused(done, "--host")
    assert "--port" not in line
    with socket.socket() as taken:  # an address in use is still the port's fault
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = jmesos("master", "--port", port, "--secret-file", str(tmp_path / "s"), timeout=10)
    line = assert_refused(done, "pick another --port", code=1)
    assert "--host" not in line


# ------------------------------------------------------------------------------ agent
def agent(secret: str, tmp_path, *args: str, master: str | None = None, timeout: float = 20):
    master = master or f"127.0.0.1:{free_port()}"
    return jmesos(
        "agent",
        "--master",
        master,
        "--secret-file",
        secret,
        "--work-dir",
        str(tmp_path / "work"),
        "--master-timeout",
        "1",  # a fault that is not caught ends this soon instead of hanging the test
        *args,
        timeout=timeout,
    )


@pytest.mark.parametrize(
    "args, option",
    [
        (["--mem", "0"], "--mem"),
        (["--cpus", "0"], "--cpus"),
        (["--ports", "5-2"], "--ports"),
    ],
)
def test_agent_refuses_resources_no_agent_can_offer(secret, tmp_path, args, option):
    line = assert_refused(agent(secret, tmp_path, *args), option)
    if option != "--ports":
        assert "every agent needs cpus > 0 and mem > 0" in line


@pytest.mark.parametrize(
    "args, option, keyword",
    [
        (["--mem", "lots"], "--mem", "mem="),
        (["--status-retry-interval", "0"], "--status-retry-interval", "status_retry_interval="),
        (["--master-timeout", "-1"], "--master-timeout", "master_timeout="),
        (["--secret-file", "/nonexistent/secret"], "--secret-file", "secret_file="),
    ],
)
def test_agent_errors_name_the_option_not_the_keyword(secret, tmp_path, args, option, keyword):
    line = assert_refused(agent(secret, tmp_path, *args), option)
    assert keyword not in line


@contextlib.contextmanager
def fake_master(behaviour: str):
    """A TCP server on 127.0.0.1 that accepts and then closes, stays silent, or greets as HTTP; yields HOST:PORT."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    held: list[socket.socket] = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:  # closed: the test is over
                return
            if behaviour == "close":
                conn.close()
                continue
            if behaviour == "http":
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + b" " * 64)
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        server.shutdown(socket.SHUT_RDWR)
        server.close()
        thread.join(5)
        for conn in held:
            conn.close()


@pytest.mark.parametrize("behaviour", ["close", "silent", "http"])
def test_agent_at_an_address_that_is_no_jmesos_master_says_so_once(secret, tmp_path, behaviour):
    with fake_master(behaviour) as address:
        done = agent(secret, tmp_path, master=address)
    line = assert_refused(done, "--master")
    assert f"{address} is not a jmesos master" in line
    assert "secret" not in line


def test_agent_with_the_wrong_secret_says_so_once(tmp_path):
    master = subprocess.Popen(
        [sys.executable, "-m", "jmesos", "master", "--port", "0", "--secret-file", str(tmp_path / "master-secret")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = master.stdout.readline()
        port = listening_port(line)
        wrong = tmp_path / "wrong-secret"
        wrong.write_text("not-the-cluster-secret")
        done = agent(str(wrong), tmp_path, master=f"127.0.0.1:{port}")
    finally:
        master.terminate()
        master.wait(10)
        master.stdout.close()
    line = assert_refused(done, "--secret-file")
    assert "refused this cluster's secret" in line
    assert "not a jmesos master" not in line


def test_agent_says_at_once_that_it_cannot_reach_the_master_then_retries_quietly(secret, tmp_path):
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jmesos",
            "agent",
            "--master",
            f"127.0.0.1:{port}",
            "--secret-file",
            secret,
            "--work-dir",
            str(tmp_path / "work"),
            "--master-timeout",
            "2",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = proc.stderr.readline()
        first_after = time.monotonic() - started
        rest = proc.stderr.read()
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert first == f"jmesos agent: cannot reach the master at 127.0.0.1:{port} (connection refused); retrying for 2s\n"
    assert first_after < 1.5  # at once, not when it gives up after 2 s
    assert "Traceback" not in rest
    assert len(rest.splitlines()) == 1 and "unreachable for 2s" in rest, rest  # no line per retry
    assert proc.returncode == 1


# ------------------------------------------------------------------------------ help
def test_help_lists_every_command_and_option():
    usage = jmesos("--help").stdout
    assert "python -m jmesos version" in usage and "--samples" in usage
    for command, options in {
        "demo": ["--agents", "--tasks", "--samples"],
        "master": ["--port", "--policy", "--allocation-interval", "--offer-timeout", "--ping-interval"],
        "agent": ["--isolation", "--status-retry-interval"],
    }.items():
        text = jmesos(command, "--help").stdout
        lines = text.splitlines()
        for option in options:
            (at,) = [i for i, line in enumerate(lines) if line.lstrip().startswith(option + " ")]
            described = lines[at].split(None, 2)[2:] or [lines[at + 1].strip()]
            assert described[0] and not described[0].startswith("--"), (option, text)
