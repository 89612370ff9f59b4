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
    pfx = names.prefix()
    rows = status.holders(pfx)
    if not rows:
        print("store %s: no ports are held" % pfx)
        return 0
    print("store %s: %d claims" % (pfx, len(rows)))
    print("%-8s %-5s %-20s %s" % ("PID", "KIND", "PORTS", "COMMAND"))
    by_holder = {}
    for pid, transport, port in rows:
        by_holder.setdefault((pid, transport), []).append(port)
    for (pid, transport), ports in sorted(by_holder.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1])):
        command = status.command_of(pid) if pid else "(another user's process)"
        print("%-8s %-5s %-20s %s" % (pid or "-", transport, format_ports_spec(sorted(ports)), command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
