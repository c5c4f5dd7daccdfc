"""Command line: ``python -m jmesos demo | master | agent | version``."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys

from .runtime.options import CommandParser, as_option, count, seconds

USAGE = """jmesos: resource offers and DRF on a local cluster

  python -m jmesos demo    [--agents 4] [--tasks 200] [--samples 20000]   run a sample framework (estimate pi)
  python -m jmesos master  [--host 127.0.0.1] [--port 5050] [--secret-file F] [--policy drf]
  python -m jmesos agent   --master HOST:PORT --secret-file F [--cpus 2 --mem 1GiB ...]
  python -m jmesos version                                                print the jmesos version

  python -m jmesos COMMAND --help   lists every option of a command
"""


def _demo(argv: list[str]) -> int:
    parser = CommandParser(prog="python -m jmesos demo", description="Estimate pi on a local cluster.")
    parser.add_argument(
        "--agents",
        type=count("--agents", 1, 256, "4"),
        default=4,
        metavar="N",
        help="agents to start, from 1 to 256 (default 4), each with 2 cpus and 1 GiB",
    )
    parser.add_argument(
        "--tasks", type=count("--tasks", 1, None, "200"), default=200, metavar="N", help="tasks to run (default 200)"
    )
    parser.add_argument(
        "--samples",
        type=count("--samples", 1, None, "20000"),
        default=20_000,
        metavar="N",
        help="random points each task samples (default 20000)",
    )
    args = parser.parse_args(argv)
    from .demo import main as demo

    return demo(agents=args.agents, tasks=args.tasks, samples=args.samples)


def _listen_error(host: str, port: int, exc: OSError) -> tuple[str, int]:
    """The one-line message and exit code for a socket that cannot listen on ``host:port``."""
    where = f"jmesos master: cannot listen on {host}:{port} ({exc.strerror or exc})"
    if isinstance(exc, socket.gaierror) or exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL):
        return f"{where}; check --host: use an address of this machine, e.g. 127.0.0.1, or 0.0.0.0 for all", 2
    if exc.errno == errno.EADDRINUSE:
        return f"{where}; pick another --port, or --port 0 for any free one", 1
    if exc.errno == errno.EACCES:
        return f"{where}; ports below 1024 need privileges: pick another --port", 1
    return f"{where}; check --host and --port", 1


def _secret(parser: CommandParser, path: str) -> bytes:
    """The secret in ``path``, or a new one written there (mode 0600) if the file does not exist."""
    from .runtime.wire import new_secret, read_secret, write_secret

    if os.path.isdir(path):
        parser.error(f"--secret-file {path!r} is a directory; pass a file (it is created, mode 0600, if missing)")
    if os.path.exists(path):
        try:
            secret = read_secret(path)
        except ValueError as exc:
            message = as_option(str(exc), "secret_file")
            if "is empty" in message:
                message = (
                    f"--secret-file {path!r} is empty; pass the cluster's secret file, "
                    "or remove this one so the master writes a new secret there"
                )
            parser.error(message)
        return secret
    secret = new_secret()
    try:
        write_secret(path, secret)
    except OSError as exc:
        parser.error(
            f"--secret-file {path!r} cannot be created ({exc.strerror or exc}); "
            "pass a path in an existing directory you can write to"
        )
    return secret


def _master(argv: list[str]) -> int:
    from .core.allocator import policy_names
    from .core.master import MasterConfig
    from .runtime.master_process import run_master
    from .runtime.wire import check_port, listening_socket

    def port(text: str) -> int:
        try:
            return check_port(text, "--port")
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser = CommandParser(prog="python -m jmesos master", description="Run a jmesos master.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    parser.add_argument("--port", type=port, default=5050, help="port to listen on (default 5050; 0 for any free one)")
    parser.add_argument(
        "--secret-file",
        help="file holding the cluster secret (default ./jmesos-secret; created, mode 0600, if missing)",
    )
    parser.add_argument(
        "--policy",
        default="drf",
        choices=policy_names(),
        metavar="POLICY",
        help=f"allocation policy: {', '.join(policy_names())} (default drf)",
    )
    parser.add_argument(
        "--allocation-interval",
        type=seconds("--allocation-interval"),
        default=1.0,
        metavar="SECONDS",
        help="seconds between allocation rounds (default 1.0)",
    )
    parser.add_argument(
        "--offer-timeout",
        type=seconds("--offer-timeout", "30", optional=True),
        default=None,
        metavar="SECONDS",
        help="rescind offers not answered within this many seconds (default: offers never time out)",
    )
    parser.add_argument(
        "--ping-interval",
        type=seconds("--ping-interval"),
        default=1.0,
        metavar="SECONDS",
        help="seconds between health checks of each agent (default 1.0)",
    )
    parser.add_argument(
        "--max-missed-pings",
        type=count("--max-missed-pings", 1, None, "3"),
        default=3,
        metavar="N",
        help="health checks an agent may miss before it is removed (default 3)",
    )
    args = parser.parse_args(argv)
    config = MasterConfig(
        allocation_interval=args.allocation_interval,
        offer_timeout=args.offer_timeout,
        ping_interval=args.ping_interval,
        max_missed_pings=args.max_missed_pings,
    )
    path = args.secret_file or os.path.join(os.getcwd(), "jmesos-secret")
    try:
        sock = listening_socket(args.host, args.port)
    except OSError as exc:
        message, code = _listen_error(args.host, args.port, exc)
        print(message, file=sys.stderr)
        return code
    try:
        secret = _secret(parser, path)
    except BaseException:
        sock.close()
        raise

    def listening(address):
        print(f"jmesos master listening on {address[0]}:{address[1]}; secret in {path}", flush=True)
        # 0.0.0.0 means every address of this machine: agents elsewhere dial it by its name
        reach = socket.gethostname() if address[0] in ("0.0.0.0", "::", "") else address[0]
        print(
            f"start agents with: python -m jmesos agent --master {reach}:{address[1]} --secret-file {path}"
            + (" (copy the secret file to each agent's machine)" if reach != address[0] else ""),
            flush=True,
        )

    run_master(secret, sock=sock, config=config, policy=args.policy, on_listening=listening)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The ``jmesos`` command (``python -m jmesos``); returns the exit code."""
    try:
        code = _command(argv)
        sys.stdout.flush()
    except BrokenPipeError:  # the reader left (jmesos --help | head): nothing more to say, and no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    return code


def _command(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        return _demo(rest)
    if command == "master":
        return _master(rest)
    if command == "agent":
        from .runtime.agent import main as agent

        return agent(rest)
    if command in ("version", "--version"):
        from . import __version__

        print(__version__)
        return 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        code = main()
    except KeyboardInterrupt:  # Ctrl-C before a command took charge of it (say, while importing)
        print("interrupted", file=sys.stderr)
        code = 130
    sys.exit(code)
