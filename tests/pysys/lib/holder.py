"""A small server that holds ports for the shared-pool tests, used by both sides: the PySys
tests start it on the ports PySys handed out, and `allocport exec` starts it on the ports the
Rust side holds. It binds and listens on each port (a failed bind is a port held twice, and
exits 1), records `start`/`end` lines with times to a shared file (one `write` a line, so the
lines of concurrent holders never mix), greets each client with its holder name and port, and
holds the ports for --hold seconds or until --until-file exists (bounded by --max)."""

import argparse
import os
import select
import socket
import sys
import time


def record(path, *fields):
    line = " ".join(str(f) for f in fields) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--holder", required=True)
    parser.add_argument("--record", required=True)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--until-file")
    parser.add_argument("--max", type=float, default=120.0)
    parser.add_argument("--no-bind", action="store_true",
                        help="record the ports without binding them (a holder that has not bound yet)")
    parser.add_argument("--ports-env", help="read the ports from this variable (a,b,c)")
    parser.add_argument("ports", nargs="*", type=int)
    args = parser.parse_args()
    ports = list(args.ports)
    if args.ports_env:
        ports += [int(p) for p in os.environ[args.ports_env].split(",") if p]
    listeners = []
    for port in [] if args.no_bind else ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as error:
            record(args.record, "bindfail", args.holder, port, time.time())
            print("cannot bind port %d: %s" % (port, error), flush=True)
            return 1
        sock.listen(8)
        sock.setblocking(False)
        listeners.append(sock)
    started = time.time()
    for port in ports:
        record(args.record, "start", args.holder, port, started)
    print("listening on %s" % ",".join(str(p) for p in ports), flush=True)
    serve(listeners, args)
    ended = time.time()
    for port in ports:
        record(args.record, "end", args.holder, port, ended)
    print("served ports %s" % ",".join(str(p) for p in ports), flush=True)
    return 0


def serve(listeners, args):
    """Greets clients until the hold is over; the client closes first, so no TIME_WAIT is
    left on the server's port for the next holder's bind check."""
    deadline = time.monotonic() + (args.max if args.until_file else args.hold)
    clients = []
    while time.monotonic() < deadline:
        if args.until_file and os.path.exists(args.until_file):
            break
        ready, _, _ = select.select(listeners + clients, [], [], 0.05)
        for sock in ready:
            if sock in listeners:
                conn, _ = sock.accept()
                port = sock.getsockname()[1]
                conn.sendall(("%s %d\n" % (args.holder, port)).encode())
                clients.append(conn)
            elif not sock.recv(64):
                clients.remove(sock)
                sock.close()
    for sock in clients + listeners:
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
