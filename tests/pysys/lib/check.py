"""Checks a shared-pool scenario from its record and its `allocport status` snapshots: no
bind failed, every holder that started ended, no port was held by two holders at once, each
side got the holders it expected, and what status showed agrees with the record.

    check.py --record FILE --expect pysys-b=8 --expect rust-long=1 \\
             [--status-dir DIR --holder-pid PID=NAME ...] [--must-see NAME ...]

Prints one line per finding and exits 1 if any check failed."""

import argparse
import collections
import glob
import os
import re
import sys

SECTION = re.compile(r"^\d+ (UDP )?ports? (held|reserved)")
ROW = re.compile(r"^(\d+|\?)\s+([0-9][0-9,\-]*)(\s|$)")


def read_record(path):
    """`{(holder, port): [start, end]}` and the list of bind failures."""
    spans, failures = {}, []
    with open(path) as handle:
        for line in handle:
            kind, holder, port, when = line.split()
            key = (holder, int(port))
            if kind == "bindfail":
                failures.append(key)
            elif kind == "start":
                spans[key] = [float(when), None]
            elif kind == "end" and key in spans:
                spans[key][1] = float(when)
    return spans, failures


def overlaps(spans):
    """Pairs of holders whose recorded holds of one port overlap in time."""
    by_port = collections.defaultdict(list)
    for (holder, port), (start, end) in spans.items():
        by_port[port].append((start, end if end is not None else float("inf"), holder))
    found = []
    for port, holds in sorted(by_port.items()):
        holds.sort()
        for (s1, e1, h1), (s2, e2, h2) in zip(holds, holds[1:]):
            if s2 < e1 and h1 != h2:
                found.append((port, h1, h2))
    return found


def parse_spec(text):
    ports = set()
    for token in text.split(","):
        low, _, high = token.partition("-")
        ports.update(range(int(low), int(high or low) + 1))
    return ports


def read_status(path):
    """`{pid: ports}` from the TCP `held` section of one `allocport status` output."""
    held, section = {}, None
    with open(path) as handle:
        for line in handle:
            header = SECTION.match(line)
            if header:
                section = "tcp" if not header.group(1) and header.group(2) == "held" else "other"
                continue
            row = ROW.match(line)
            if row and section == "tcp":
                held.setdefault(row.group(1), set()).update(parse_spec(row.group(2)))
    return held


def check_status(snapshots, spans, holder_pids, must_see, problems, notes):
    recorded = collections.defaultdict(set)
    for holder, port in spans:
        recorded[holder].add(port)
    seen = collections.Counter()
    for path in snapshots:
        held = read_status(path)
        owners = collections.defaultdict(list)
        for pid, ports in held.items():
            for port in ports:
                owners[port].append(pid)
        for port, pids in sorted(owners.items()):
            if len(pids) > 1:
                problems.append("%s: port %d listed under pids %s" % (path, port, pids))
        for pid, name in holder_pids.items():
            ports = held.get(pid, set())
            if ports:
                seen[name] += 1
            # A PySys process may show a claim it is about to give back (its bind check found
            # the port used by a program outside the store), so only the Rust holders, whose
            # ports are fixed, must show exactly what they recorded.
            allowed = set().union(*[p for h, p in recorded.items() if h.startswith(name)] or [set()])
            if name.startswith("rust-") and ports - allowed:
                problems.append("%s: pid %s (%s) holds %s, never recorded by %s" % (
                    path, pid, name, sorted(ports - allowed), name))
    for name in must_see:
        if not seen[name]:
            problems.append("no status snapshot showed a port held by %s" % name)
    notes.append("%d status snapshots; holders seen in them: %s" % (
        len(snapshots), dict(seen) or "none"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--expect", action="append", default=[], help="NAME=COUNT of holders")
    parser.add_argument("--status-dir")
    parser.add_argument("--holder-pid", action="append", default=[], help="PID=NAME")
    parser.add_argument("--must-see", action="append", default=[])
    args = parser.parse_args()
    spans, bind_failures = read_record(args.record)
    problems, notes = [], []
    for holder, port in bind_failures:
        problems.append("%s could not bind port %d: another holder had it" % (holder, port))
    for (holder, port), (_, end) in sorted(spans.items()):
        if end is None:
            problems.append("%s never released port %d" % (holder, port))
    for port, first, second in overlaps(spans):
        problems.append("port %d held by %s and %s at once" % (port, first, second))
    for expected in args.expect:
        name, count = expected.rsplit("=", 1)
        holders = {h for h, _ in spans if h.startswith(name)}
        if len(holders) != int(count):
            problems.append("%d holders named %s*, expected %s" % (len(holders), name, count))
        ports = sorted({p for h, p in spans if h.startswith(name)})
        notes.append("%s: %d holders, ports %s" % (name, len(holders), ports))
    if args.status_dir:
        snapshots = sorted(glob.glob(os.path.join(args.status_dir, "*")))
        holder_pids = dict(pair.split("=", 1) for pair in args.holder_pid)
        check_status(snapshots, spans, holder_pids, args.must_see, problems, notes)
    for note in notes:
        print("  " + note)
    for problem in problems:
        print("  FAILED: " + problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
