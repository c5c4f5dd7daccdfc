"""Command line: ``python -m jmesos demo | master | agent``."""

from __future__ import annotations

import argparse
import os
import sys

USAGE = """jmesos: resource offers and DRF on a local cluster

  python -m jmesos demo   [--agents 4] [--tasks 200]     run a sample framework (estimate pi)
  python -m jmesos master [--host 127.0.0.1] [--port 5050] [--secret-file F] [--policy drf]
  python -m jmesos agent  --master HOST:PORT --secret-file F [--cpus 2 --mem 1GiB ...]
"""


def _master(argv: list[str]) -> int:
    from .core.master import MasterConfig
    from .runtime.master_process import run_master
    from .runtime.wire import check_port, new_secret, read_secret

    def port(text: str) -> int:
        try:
            return check_port(text, "--port")
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parser = argparse.ArgumentParser(prog="python -m jmesos master", description="Run a jmesos master.")
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"
    )
    parser.add_argument("--port", type=port, default=5050)
    parser.add_argument("--secret-file", help="file holding the cluster secret (created, mode 0600, if missing)")
    parser.add_argument("--policy", default="drf", help="allocation policy name (default drf)")
    parser.add_argument("--allocation-interval", type=float, default=1.0)
    parser.add_argument("--offer-timeout", type=float, default=None)
    parser.add_argument("--ping-interval", type=float, default=1.0)
    parser.add_argument("--max-missed-pings", type=int, default=3)
    args = parser.parse_args(argv)
    path = args.secret_file or os.path.join(os.getcwd(), "jmesos-secret")
    if os.path.exists(path):
        secret = read_secret(path)
    else:
        secret = new_secret()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(secret)
    config = MasterConfig(
        allocation_interval=args.allocation_interval,
        offer_timeout=args.offer_timeout,
        ping_interval=args.ping_interval,
        max_missed_pings=args.max_missed_pings,
    )

    def listening(address):
        print(f"jmesos master listening on {address[0]}:{address[1]}; secret in {path}", flush=True)
        print(
            f"start agents with: python -m jmesos agent --master {address[0]}:{address[1]} --secret-file {path}",
            flush=True,
        )

    try:
        run_master(secret, host=args.host, port=args.port, config=config, policy=args.policy, on_listening=listening)
    except OSError as exc:
        print(
            f"jmesos master: cannot listen on {args.host}:{args.port} ({exc.strerror}); pick another --port",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0
    command, rest = argv[0], argv[1:]
    if command == "demo":
        from .demo import main as demo

        parser = argparse.ArgumentParser(prog="python -m jmesos demo", description="Estimate pi on a local cluster.")
        parser.add_argument("--agents", type=int, default=4)
        parser.add_argument("--tasks", type=int, default=200)
        parser.add_argument("--samples", type=int, default=20_000)
        args = parser.parse_args(rest)
        return demo(agents=args.agents, tasks=args.tasks, samples=args.samples)
    if command == "master":
        return _master(rest)
    if command == "agent":
        from .runtime.agent import main as agent

        return agent(rest)
    if command == "version":
        from . import __version__

        print(__version__)
        return 0
    print(f"unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
