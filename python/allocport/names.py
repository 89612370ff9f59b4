"""The abstract socket names of the kernel store: the protocol allocport's Rust crates speak.

Every name starts with a NUL byte (Linux's abstract namespace), then the prefix `allocport`,
or `allocport-<tag>` when `ALLOCPORT_NAMESPACE=<tag>` is set and not empty (a separate store,
for tests that want isolation)."""

import os
import re
import struct

from .errors import InvalidEnv

ALLOCPORT_NAMESPACE = "ALLOCPORT_NAMESPACE"

#: How many doorbells there are: waiters bind the lowest free number below this.
DOORBELLS = 64

_TAG = re.compile(r"[A-Za-z0-9._-]{1,32}\Z")

#: The transports a claim can be for.
TRANSPORTS = ("tcp", "udp")


def prefix(environ=None):
    """The store's prefix, read from `ALLOCPORT_NAMESPACE` at each call.

    >>> prefix({})
    'allocport'
    >>> prefix({"ALLOCPORT_NAMESPACE": "ci-7"})
    'allocport-ci-7'
    """
    environ = os.environ if environ is None else environ
    tag = environ.get(ALLOCPORT_NAMESPACE, "")
    if not tag:
        return "allocport"
    if not _TAG.match(tag):
        raise InvalidEnv(
            ALLOCPORT_NAMESPACE,
            tag,
            "is not a store tag (1 to 32 characters of A-Z, a-z, 0-9, '.', '_' and '-')",
        )
    return "allocport-" + tag


def _port_name(pfx, kind, port):
    # The two binary bytes spread the names over the kernel's hash buckets (issue 20).
    if not 1 <= port <= 65535:
        raise ValueError("port %r is not a server port (ports are 1 to 65535)" % (port,))
    return b"\0" + ("%s/%s/%d" % (pfx, kind, port)).encode("ascii") + b"\0" + struct.pack(">H", port)


def claim_name(port, transport="tcp", pfx=None):
    """The name whose holder has claimed `port` for `transport` (`tcp` or `udp`).

    >>> claim_name(8080, pfx="allocport")
    b'\\x00allocport/tcp/8080\\x00\\x1f\\x90'
    """
    _check_transport(transport)
    return _port_name(pfx or prefix(), transport, port)


def reserved_name(port, transport="tcp", pfx=None):
    """The name a fair multi-port wait binds to keep `port` for itself once it is released.

    >>> reserved_name(80, pfx="allocport")
    b'\\x00allocport/reserved/tcp/80\\x00\\x00P'
    """
    _check_transport(transport)
    return _port_name(pfx or prefix(), "reserved/" + transport, port)


def wait_token_name(pfx=None):
    """The name of the wait token, bound by a datagram socket of the one fair waiter allowed to
    reserve ports."""
    return b"\0" + ("%s/wait-token" % (pfx or prefix())).encode("ascii")


def doorbell_name(number, pfx=None):
    """The name of doorbell `number` (0 to 63), a datagram socket a waiter binds.

    >>> doorbell_name(3, pfx="allocport")
    b'\\x00allocport/doorbell/3'
    """
    if not 0 <= number < DOORBELLS:
        raise ValueError("doorbell %r is not 0 to %d" % (number, DOORBELLS - 1))
    return b"\0" + ("%s/doorbell/%d" % (pfx or prefix(), number)).encode("ascii")


def _check_transport(transport):
    if transport not in TRANSPORTS:
        raise ValueError("transport %r is not 'tcp' or 'udp'" % (transport,))
