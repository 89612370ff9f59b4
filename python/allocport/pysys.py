"""A PySys runner plugin that makes PySys share its port pool with allocport's Rust processes
and with other PySys runs on the same Linux machine. Add one line to `pysysproject.xml`::

    <runner-plugin classname="allocport.pysys.SharedPortsPlugin"/>

From then on every port that `getNextAvailableTCPPort()` or `TCPPortOwner` hands out is claimed
in the shared store until its `cleanup()`; a port another holder has claimed is skipped at once
(PySys sleeps 0.5 s on each busy port); and when no port is free the test waits for a release,
woken by the releaser's doorbell, instead of polling every 2 s. The rest is PySys's own: its
pool (`PYSYS_PORTS`, `PYSYS_PORTS_FILE` or the OS range) and order, `excludedTCPPorts`, its
`portIsInUse` bind check on the hosts asked for, its timeout and its statistics.

Where allocport's Rust crates would not use the kernel store (other systems, or
`ALLOCPORT_STORE=files`, or `ALLOCPORT_LOCK_DIR` set), the plugin says once in the log that it
cannot share the pool, and PySys runs as before."""

import logging
import socket
import threading
import time

from .claim import check_store
from .store import why_not_kernel
from .errors import Timeout
from .names import prefix
from .pool import give_back, take_port

_log = logging.getLogger("pysys.allocport")

_install_lock = threading.Lock()
_claims_lock = threading.Lock()
_said_unsupported = []
_installed = {}  # what was replaced, to put back: {"allocateTCPPort": f, "cleanup": f}
_claims = {}  # port -> Claim, for each port PySys has handed out and not cleaned up


class SharedPortsPlugin(object):
    """The runner plugin: `setup()` is called by PySys's runner once its pool exists."""

    def setup(self, runner):
        reason = why_not_kernel()
        if reason is not None:
            _say_once(
                "allocport: cannot share the port pool with other allocport processes (%s; "
                "this plugin speaks the kernel store only): PySys allocates ports as before"
                % reason
            )
            return
        # A bad ALLOCPORT_NAMESPACE or a sandbox without AF_UNIX stops the run here, saying so.
        check_store()
        install()
        runner.addCleanupFunction(uninstall)
        _log.debug("allocport: PySys's ports are claimed in the shared store %r", prefix())


def _say_once(message):
    with _install_lock:
        if _said_unsupported:
            return
        _said_unsupported.append(True)
    _log.warning("%s", message)


def install():
    """Routes PySys's allocations and cleanups through the shared store (idempotent)."""
    import pysys.utils.allocport as pysys_allocport

    with _install_lock:
        if _installed:
            return
        owner = pysys_allocport.TCPPortOwner
        _installed["allocateTCPPort"] = pysys_allocport.allocateTCPPort
        _installed["cleanup"] = owner.__dict__["cleanup"]
        pysys_allocport.allocateTCPPort = allocate_tcp_port
        owner.cleanup = _cleanup


def uninstall():
    """Puts PySys's own functions back and releases the claims of ports never cleaned up."""
    import pysys.utils.allocport as pysys_allocport

    with _install_lock:
        if not _installed:
            return
        pysys_allocport.allocateTCPPort = _installed.pop("allocateTCPPort")
        pysys_allocport.TCPPortOwner.cleanup = _installed.pop("cleanup")
    with _claims_lock:
        leaked = list(_claims.values())
        _claims.clear()
    for claim in leaked:
        claim.release()


def allocate_tcp_port(hosts=["", "localhost"], socketAddressFamily=socket.AF_INET,
                      type=socket.SOCK_STREAM, proto=0):
    """PySys's `allocateTCPPort`, with the same signature, timeout, messages and statistics,
    taking only ports it could claim in the shared store."""
    import pysys.utils.allocport as mod
    from pysys.constants import TIMEOUTS

    timeout = TIMEOUTS["WaitForAvailableTCPPort"]
    started = time.monotonic()
    waited = []

    def on_first_wait():
        waited.append(True)
        mod._log.warning(
            "Unable to allocate a TCP port yet as all are in use by PySys or claimed by other "
            "allocport processes; will wait for up to %0.1fs", timeout,
        )

    def in_use(port, host):
        return mod.portIsInUse(port, host=host, socketAddressFamily=socketAddressFamily,
                               type=type, proto=proto)

    try:
        port, claim = take_port(mod.tcpServerPortPool, started + timeout, hosts, in_use,
                                mod.excludedTCPPorts, on_first_wait)
    except Timeout:
        raise Exception(
            "Timed out trying to allocate a free TCP server port after %0.1f secs; other tests "
            "are currently using all the available ports (hint: check that PySys has correctly "
            "detected the range of ephemeral vs server ports by running with -vDEBUG; "
            "`allocport status` lists the ports other processes hold)" % timeout
        )
    with _claims_lock:
        _claims[port] = claim
    if waited:
        mod._log.info("   successfully allocated TCP port %d after %0.1fs", port,
                      time.monotonic() - started)
    _count_allocation(mod)
    return port


def _count_allocation(mod):
    # PySys keeps its statistics in module globals whose names start with two underscores
    # (not mangled at module level); they are updated as its own allocateTCPPort does.
    stats = vars(mod)
    stats["__totalAllocatedPorts"] = stats.get("__totalAllocatedPorts", 0) + 1
    in_use_now = stats.get("__totalServerPorts", 0) - len(mod.tcpServerPortPool)
    stats["__peakAllocatedPorts"] = max(stats.get("__peakAllocatedPorts", 0), in_use_now)


def _cleanup(self):
    """`TCPPortOwner.cleanup`: releases the claim, returns the port to PySys's pool, and wakes
    the waiters of every process."""
    import pysys.utils.allocport as mod

    with _claims_lock:
        claim = _claims.pop(self.port, None)
    if claim is None:
        # Allocated before the plugin was installed: PySys's own way.
        mod.tcpServerPortPool.append(self.port)
        return
    give_back(mod.tcpServerPortPool, self.port, claim)


def held_ports():
    """The ports PySys has handed out in this process and not cleaned up, sorted.

    >>> held_ports()
    []
    """
    with _claims_lock:
        return sorted(_claims)
