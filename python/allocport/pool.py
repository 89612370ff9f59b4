"""Taking a port from a queue of candidates: claim it in the shared store first, then check
it free with a plain bind, skip at once what another holder has, and when a whole pass finds
nothing, wait on a doorbell for a release (looking again every 250 ms at most).

The PySys plugin runs this on PySys's own queue; `PortPool` runs it on one built from
`PYSYS_PORTS` for Python programs outside PySys."""

import collections
import socket
import threading
import time

from .claim import check_store, try_claim
from .doorbell import Doorbell, ring_doorbells
from .errors import Timeout
from .ports import DEFAULT_EXCLUDED_TCP_PORTS, server_tcp_ports

#: The hosts a port is checked free on by default, as PySys checks them.
DEFAULT_HOSTS = ("", "localhost")


def port_in_use(port, host="", family=socket.AF_INET):
    """Whether binding `port` on `host` fails now (PySys's `portIsInUse` check)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError):
        return True
    finally:
        sock.close()
    return False


def take_port(queue, deadline, hosts=DEFAULT_HOSTS, in_use=port_in_use, excluded=(),
              on_first_wait=None):
    """Takes a port from the deque `queue`: returns `(port, claim)` with the port claimed and
    free on every host, or raises `Timeout` once `time.monotonic()` passes `deadline` (its
    `pool_size` is what is left in the queue; callers that know the pool say more).

    A port claimed elsewhere or in use goes back to the end of the queue; one in `excluded`
    leaves it. `on_first_wait` is called once, when a full pass found nothing and the call
    starts to wait. `in_use(port, host)` is the bind check."""
    bell, waited, started = None, False, time.monotonic()
    try:
        while True:
            taken = _one_pass(queue, hosts, in_use, excluded)
            if taken is not None:
                return taken
            now = time.monotonic()
            if now >= deadline:
                raise Timeout(now - started, len(queue), 0)
            if not waited and on_first_wait is not None:
                on_first_wait()
            waited = True
            if bell is None:
                # Bound before the next look, so a release from now on rings it.
                bell = Doorbell()
                continue
            bell.wait(deadline - now)
    finally:
        if bell is not None:
            bell.close()


def _one_pass(queue, hosts, in_use, excluded):
    for _ in range(len(queue)):
        try:
            port = queue.popleft()
        except IndexError:
            return None
        if port in excluded:
            continue  # excluded after the queue was made: never handed out again
        try:
            claim = try_claim(port)
        except ValueError:
            claim = None  # not a port the store can name (0 or above 65535): never free
        if claim is None:
            queue.append(port)
            continue
        if any(in_use(port, host) for host in hosts):
            claim.release(ring=False)
            queue.append(port)
            continue
        return port, claim
    return None


def give_back(queue, port, claim):
    """Returns a used port: its claim is released before the port rejoins the queue (so a
    thread that takes it from there can claim it), then the waiters are rung."""
    claim.release(ring=False)
    queue.append(port)
    ring_doorbells(port)


class HeldPort(object):
    """A port held until `release()` (or the end of a `with` block)."""

    def __init__(self, pool, port, claim):
        self.port = port
        self._pool, self._claim = pool, claim
        self._lock = threading.Lock()

    def release(self):
        with self._lock:
            claim, self._claim = self._claim, None
        if claim is not None:
            give_back(self._pool._queue, self.port, claim)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


class PortPool(object):
    """A pool of server TCP ports shared with every allocport process on the machine.

    >>> pool = PortPool([47130, 47131])
    >>> with pool.allocate(hosts=["localhost"]) as held:
    ...     held.port in (47130, 47131)
    True
    """

    def __init__(self, ports=None, excluded=DEFAULT_EXCLUDED_TCP_PORTS):
        check_store()
        if ports is None:
            ports = server_tcp_ports(excluded=excluded).ports
        self._excluded = frozenset(excluded)
        self._queue = collections.deque(p for p in ports if p not in self._excluded)
        self.size = len(self._queue)

    def allocate(self, hosts=DEFAULT_HOSTS, family=socket.AF_INET, timeout=300.0):
        """A free port, claimed in the shared store and free on each of `hosts`; waits up to
        `timeout` seconds for a release when none is."""
        deadline = time.monotonic() + timeout
        try:
            port, claim = take_port(
                self._queue, deadline, hosts,
                in_use=lambda p, h: port_in_use(p, h, family), excluded=self._excluded,
            )
        except Timeout:
            raise Timeout(timeout, self.size, self.size - len(self._queue))
        return HeldPort(self, port, claim)
