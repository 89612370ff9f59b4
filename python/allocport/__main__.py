"""`python -m allocport`: a Python peer of the `allocport` command for the shared store.

    python -m allocport exec -n 2 -- ./server.sh   # the ports in ALLOCPORT_PORTS, PORT_0, PORT_1
    python -m allocport status                      # who holds which claims

`exec` holds the ports while the command runs and exits with its status."""

import argparse
import os
import subprocess
import sys

from . import names, status
from .errors import AllocportError
from .pool import PortPool
from .spec import format_ports_spec


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m allocport")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("exec", help="run a command holding N ports")
    run.add_argument("-n", type=int, default=1, help="how many ports (default 1)")
    run.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for ports")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    sub.add_parser("status", help="who holds which claims now")
    args = parser.parse_args(argv)
    try:
        if args.command == "exec":
            return run_exec(args)
        if args.command == "status":
            return run_status()
    except AllocportError as error:
        print("allocport: %s" % error, file=sys.stderr)
        return 1
    parser.print_usage(sys.stderr)
    return 2


def run_exec(args):
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command or args.n < 1:
        print("allocport: give -n N (1 or more) and a command after --", file=sys.stderr)
        return 2
    pool = PortPool()
    held = []
    try:
        for _ in range(args.n):
            held.append(pool.allocate(timeout=args.timeout))
        ports = [h.port for h in held]
        env = dict(os.environ, ALLOCPORT_PORTS=",".join(str(p) for p in ports))
        env.update(("PORT_%d" % i, str(p)) for i, p in enumerate(ports))
        return subprocess.call(command, env=env)
    finally:
        for port in held:
            port.release()


def run_status():
    """Prints the claims as `allocport status` does: one section for TCP and one for UDP,
    each a PID / PORTS / COMMAND table."""
    pfx = names.prefix()
    rows = status.holders(pfx)
    print("store: %s (kernel)" % pfx)
    if not rows:
        print("no ports are held")
        return 0
    for transport, kind in (("tcp", ""), ("udp", "UDP ")):
        by_pid = {}
        for pid, row_transport, port in rows:
            if row_transport == transport:
                by_pid.setdefault(pid, []).append(port)
        if by_pid:
            print(_table(by_pid, kind))
    return 0


def _table(by_pid, kind):
    count = sum(len(ports) for ports in by_pid.values())
    lines = ["%d %sport%s held by %d process%s:" % (
        count, kind, "" if count == 1 else "s", len(by_pid), "" if len(by_pid) == 1 else "es")]
    table = [("PID", "PORTS", "COMMAND")] + [
        (str(pid) if pid else "?", format_ports_spec(sorted(ports)), status.command_of(pid) if pid else "")
        for pid, ports in sorted(by_pid.items(), key=lambda kv: kv[0] or 0)
    ]
    pid_width = max(3, max(len(r[0]) for r in table))
    ports_width = max(5, max(len(r[1]) for r in table))
    for pid, ports, command in table:
        lines.append(("%-*s  %-*s  %s" % (pid_width, pid, ports_width, ports, command)).rstrip())
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
