"""Claims: a port is claimed by binding its abstract name with a stream socket that never
listens. The kernel keeps the name while the socket is open and drops it when the holder closes
it or dies (SIGKILL included); Python's sockets are close-on-exec, so a child program started
with `exec` does not inherit it."""

import errno
import socket
import sys
import threading

from . import names
from .doorbell import ring_doorbells
from .errors import StoreUnavailable, TooManyOpenFiles, is_in_use

_count_lock = threading.Lock()
_held_count = 0


def store_available():
    """Whether the kernel store can be used on this system (Linux only).

    >>> isinstance(store_available(), bool)
    True
    """
    return sys.platform.startswith("linux")


class Claim(object):
    """A port claimed in the shared store until `release()` (or the end of a `with` block).

    >>> claim = try_claim(47123, pfx="allocport-doctest")
    >>> claim.port, try_claim(47123, pfx="allocport-doctest")
    (47123, None)
    >>> claim.release()
    """

    def __init__(self, port, transport, sock):
        self.port, self.transport = port, transport
        self._sock = sock

    @property
    def held(self):
        """Whether this claim still holds its port."""
        return self._sock is not None

    def release(self, ring=True):
        """Gives the port back. `ring` (the default, for a port that was used) wakes the
        processes waiting for a release; a claim given back unused passes `ring=False`."""
        global _held_count
        sock, self._sock = self._sock, None
        if sock is None:
            return
        sock.close()
        with _count_lock:
            _held_count -= 1
        if ring:
            ring_doorbells(self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()

    def __repr__(self):
        return "Claim(%s port %d%s)" % (
            self.transport, self.port, "" if self.held else ", released"
        )


def try_claim(port, transport="tcp", pfx=None, check_reserved=True):
    """Claims `port` for `transport` at once, or returns `None` if another holder (any process,
    or another claim of this one) has it. With `check_reserved`, a port a fair waiter has
    reserved is given back too (returns `None`), as the protocol asks of a polite peer: the
    reservation is looked at only while someone holds the wait token.

    Raises `StoreUnavailable` off Linux or where `AF_UNIX` sockets are forbidden, and
    `TooManyOpenFiles` when the process has no descriptor left."""
    global _held_count
    pfx = pfx or names.prefix()
    name = names.claim_name(port, transport, pfx)
    sock = _stream_socket()
    try:
        sock.bind(name)
    except OSError as error:
        sock.close()
        if is_in_use(error):
            return None
        raise
    with _count_lock:
        _held_count += 1
    claim = Claim(port, transport, sock)
    if check_reserved and _token_is_held(pfx) and is_reserved(port, transport, pfx):
        claim.release(ring=False)
        return None
    return claim


def check_store():
    """Raises `StoreUnavailable` (or `InvalidEnv` for a bad `ALLOCPORT_NAMESPACE` or
    `ALLOCPORT_STORE`) unless this process can make claims in the store allocport's Rust
    crates use here: what a front end checks once before it starts.

    >>> check_store()
    """
    from .store import why_not_kernel

    reason = why_not_kernel()
    if reason is not None:
        raise StoreUnavailable(reason)
    names.prefix()
    _stream_socket().close()


def is_claimed(port, transport="tcp", pfx=None):
    """Whether anyone (this process included) holds a claim on `port` now.

    >>> is_claimed(47124, pfx="allocport-doctest")
    False
    """
    return _name_is_bound(names.claim_name(port, transport, pfx or names.prefix()))


def is_reserved(port, transport="tcp", pfx=None):
    """Whether a fair waiter has reserved `port` now."""
    return _name_is_bound(names.reserved_name(port, transport, pfx or names.prefix()))


def _token_is_held(pfx):
    """Whether a fair waiter holds the wait token, a datagram socket's name: connecting a
    datagram socket to it is refused only when nobody has bound it, and sends nothing."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
    try:
        probe.connect(names.wait_token_name(pfx))
    except ConnectionRefusedError:
        return False
    except OSError:
        return True  # cannot tell: look at the reservation
    finally:
        probe.close()
    return True


def _name_is_bound(name):
    probe = _stream_socket()
    try:
        probe.bind(name)
    except OSError as error:
        if is_in_use(error):
            return True
        raise
    finally:
        probe.close()
    return False


def _stream_socket():
    if not store_available():
        raise StoreUnavailable(
            "abstract Unix socket names are Linux only (this is %s)" % sys.platform
        )
    try:
        return socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    except OSError as error:
        if error.errno in (errno.EMFILE, errno.ENFILE):
            raise TooManyOpenFiles(_held_count, error)
        if error.errno in (errno.EACCES, errno.EPERM, errno.EAFNOSUPPORT):
            raise StoreUnavailable(
                "this process may not create AF_UNIX sockets (%s: a seccomp filter, systemd's "
                "RestrictAddressFamilies= or a security module forbids them)" % error
            )
        raise
