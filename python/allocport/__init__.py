"""allocport for Python: share one pool of server ports with allocport's Rust crates (and
with other PySys runs) on one Linux machine.

A port is claimed by binding an abstract Unix socket name the kernel keeps while the holder
lives (`\\0allocport/tcp/<port>\\0<2 bytes>`), the protocol the Rust crates speak; see
docs/pysys.md. PySys users add one line to `pysysproject.xml`::

    <runner-plugin classname="allocport.pysys.SharedPortsPlugin"/>

Other Python programs claim ports directly:

>>> import allocport
>>> claim = allocport.try_claim(47140, pfx="allocport-doctest")
>>> allocport.is_claimed(47140, pfx="allocport-doctest")
True
>>> claim.release()
"""

from .claim import Claim, check_store, is_claimed, is_reserved, store_available, try_claim
from .doorbell import Doorbell, ring_doorbells
from .errors import (
    AllocportError,
    EmptyPool,
    EphemeralRange,
    InvalidEnv,
    InvalidPortSpec,
    PortsFileNotRegular,
    PortsFileNotUtf8,
    PortsFileTooLarge,
    PortsFileUnreadable,
    StoreUnavailable,
    Timeout,
    TooManyOpenFiles,
)
from .names import claim_name, doorbell_name, prefix, reserved_name, wait_token_name
from .pool import HeldPort, PortPool, port_in_use
from .ports import DEFAULT_EXCLUDED_TCP_PORTS, MAX_PORTS_FILE_BYTES, server_tcp_ports
from .spec import format_ports_spec
from .store import store_kind

__version__ = "0.1.0"
