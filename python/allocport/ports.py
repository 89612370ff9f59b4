"""Which ports a pool may hand out, by the Rust pool's rules: `PYSYS_PORTS`, else
`PYSYS_PORTS_FILE`, else every port from 1024 up outside the OS's ephemeral range (both ends
left out; 1024-49151 when fewer than 50 remain); always minus the excluded ports and, on
Linux, the ports this process may not bind."""

import logging
import os
import stat

from .errors import (
    EmptyPool,
    EphemeralRange,
    PortsFileNotRegular,
    PortsFileNotUtf8,
    PortsFileTooLarge,
    PortsFileUnreadable,
    rust_debug,
)
from .spec import SpecRanges, format_ports_spec, parse_spec

#: Ports never allocated: those some web browsers refuse to connect to (PySys's list).
DEFAULT_EXCLUDED_TCP_PORTS = frozenset(
    [1719, 1720, 1723, 2049, 3659, 4045, 5060, 5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669,
     6697, 10080]
)

#: The largest `PYSYS_PORTS_FILE` accepted, in bytes (4 MiB), refused before it is read.
MAX_PORTS_FILE_BYTES = 4 << 20

_FIRST_UNPRIVILEGED_PORT = 1024
_MIN_USEFUL_POOL = 50
_log = logging.getLogger("allocport")


class ServerPorts(object):
    """The server ports (sorted, without duplicates, never empty) and where they came from."""

    def __init__(self, ports, source):
        self.ports, self.source = ports, source

    def __repr__(self):
        return "ServerPorts(%d ports from %s)" % (len(self.ports), self.source)


def server_tcp_ports(environ=None, excluded=DEFAULT_EXCLUDED_TCP_PORTS):
    """The TCP ports tests may start servers on, read afresh at each call (the Rust crate's
    `server_tcp_ports_with_source`).

    >>> server_tcp_ports({"PYSYS_PORTS": "6001, 3000-3002, 6000"}).ports
    [3000, 3001, 3002, 6001]
    """
    environ = os.environ if environ is None else environ
    spec = environ.get("PYSYS_PORTS", "")
    path = environ.get("PYSYS_PORTS_FILE", "")
    if spec:
        source = "PYSYS_PORTS=%s" % rust_debug(spec)
        ranges = SpecRanges()
        parse_spec(spec, "PYSYS_PORTS", ranges)
        spans = _warned_spans(ranges)
    elif path:
        source = "PYSYS_PORTS_FILE=%s" % rust_debug(path)
        spans = _warned_spans(read_ports_file(path))
    else:
        spans, source = _os_spans(ephemeral_tcp_port_range())
    first = _first_bindable_port(min([low for low, _ in spans] or [65535]))
    ports = [p for low, high in spans for p in range(low, high + 1) if p not in excluded]
    below = [p for p in ports if p < first]
    if below:
        _log.warning(
            "%s: ports %s are below %d, the first port this process may bind "
            "(net.ipv4.ip_unprivileged_port_start), and are left out",
            source, format_ports_spec(below), first,
        )
        ports = [p for p in ports if p >= first]
    if not ports:
        raise EmptyPool(source)
    return ServerPorts(ports, source)


def _warned_spans(ranges):
    warning = ranges.reversed_warning()
    if warning:
        _log.warning("%s", warning)
    return ranges.spans()


def read_ports_file(path):
    """Reads a `PYSYS_PORTS_FILE` without ever blocking or reading without bound: opened
    non-blocking (a FIFO opens at once), it must be a regular file of at most
    `MAX_PORTS_FILE_BYTES`; one specification a line, blank lines, CRLF and a leading byte
    order mark allowed. Returns its `SpecRanges`."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        raise PortsFileUnreadable(path, error)
    try:
        data = _read_regular(path, fd)
    finally:
        os.close(fd)
    if len(data) > MAX_PORTS_FILE_BYTES:
        raise PortsFileTooLarge(path, len(data), MAX_PORTS_FILE_BYTES)  # it grew while read
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    ranges = SpecRanges()
    for index, raw in enumerate(data.split(b"\n")):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PortsFileNotUtf8(path, index + 1)
        place = "PYSYS_PORTS_FILE %s, line %d" % (path, index + 1)
        parse_spec(line.rstrip("\r"), place, ranges)
    return ranges


def _read_regular(path, fd):
    """The bytes of the open file `fd` (at most one past the limit), if it is regular."""
    try:
        meta = os.fstat(fd)
    except OSError as error:
        raise PortsFileUnreadable(path, error)
    if not stat.S_ISREG(meta.st_mode):
        raise PortsFileNotRegular(path, _file_kind(meta.st_mode))
    if meta.st_size > MAX_PORTS_FILE_BYTES:
        raise PortsFileTooLarge(path, meta.st_size, MAX_PORTS_FILE_BYTES)
    chunks, size = [], 0
    try:
        while size <= MAX_PORTS_FILE_BYTES:
            chunk = os.read(fd, MAX_PORTS_FILE_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise PortsFileUnreadable(path, error)
    return b"".join(chunks)


def _file_kind(mode):
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def ephemeral_tcp_port_range(path="/proc/sys/net/ipv4/ip_local_port_range"):
    """The OS's ephemeral TCP range `(min, max)`; read on Linux only (`EphemeralRange`
    elsewhere: set `PYSYS_PORTS` there)."""
    try:
        with open(path) as handle:
            low, high = (int(x) for x in handle.read().split())
    except (OSError, ValueError) as error:
        raise EphemeralRange(path, str(error) + " (set PYSYS_PORTS to choose the ports)")
    return low, high


def _os_spans(ephemeral):
    low, high = ephemeral
    spans = [(_FIRST_UNPRIVILEGED_PORT, low - 1), (max(high + 1, _FIRST_UNPRIVILEGED_PORT), 65535)]
    if low > high:
        spans = [(_FIRST_UNPRIVILEGED_PORT, 65535)]
    spans = [(a, b) for a, b in spans if a <= b]
    count = sum(b - a + 1 for a, b in spans)
    if count >= _MIN_USEFUL_POOL:
        return spans, "ports 1024-65535 outside the OS's ephemeral range %d-%d" % (low, high)
    _log.warning(
        "the ephemeral port range %d-%d leaves only %d server ports; using 1024-49151",
        low, high, count,
    )
    return [(1024, 49151)], (
        "ports 1024-49151 (the OS's ephemeral range %d-%d leaves fewer than 50 ports)" % (low, high)
    )


def _first_bindable_port(lowest):
    """The lowest port this process may bind, asked only when a lower one is wanted."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as handle:
            start = max(1, min(int(handle.read().strip()), 65535))
    except (OSError, ValueError):
        start = _FIRST_UNPRIVILEGED_PORT if os.name == "posix" else 1
    if lowest >= start:
        return 1
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    if int(line.split(":")[1].strip(), 16) & (1 << 10):
                        return 1
    except (OSError, ValueError):
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            return 1
    return start
