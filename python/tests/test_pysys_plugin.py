"""The runner plugin against PySys's own allocator module (skipped where PySys is missing;
run.sh installs it). The whole PySys run is tested by the project under tests/pysys."""

import collections
import logging
import os
import threading
import time
import unittest

import allocport
from allocport import doorbell
from allocport import pysys as plugin

from .support import free_ports

try:
    import pysys.utils.allocport as pysys_allocport
    from pysys.constants import TIMEOUTS
except ImportError:  # pragma: no cover
    pysys_allocport = None

HOSTS = ["127.0.0.1"]


class FakeRunner(object):
    def __init__(self):
        self.cleanups = []

    def addCleanupFunction(self, function):
        self.cleanups.append(function)


@unittest.skipIf(pysys_allocport is None, "PySys is not installed")
class PluginTest(unittest.TestCase):
    def setUp(self):
        self.ports = free_ports(3)
        saved = (pysys_allocport.tcpServerPortPool, vars(pysys_allocport).get("__totalServerPorts"),
                 set(pysys_allocport.excludedTCPPorts), TIMEOUTS["WaitForAvailableTCPPort"])
        pysys_allocport.tcpServerPortPool = collections.deque(self.ports)
        vars(pysys_allocport)["__totalServerPorts"] = len(self.ports)
        self.original = pysys_allocport.allocateTCPPort
        self.runner = FakeRunner()
        plugin.SharedPortsPlugin().setup(self.runner)

        def restore():
            for cleanup in self.runner.cleanups:
                cleanup()
            (pysys_allocport.tcpServerPortPool, vars(pysys_allocport)["__totalServerPorts"],
             excluded, TIMEOUTS["WaitForAvailableTCPPort"]) = saved
            pysys_allocport.excludedTCPPorts.clear()
            pysys_allocport.excludedTCPPorts.update(excluded)

        self.addCleanup(restore)

    def owner(self):
        return pysys_allocport.TCPPortOwner(hosts=HOSTS)

    def test_a_port_handed_out_is_claimed_until_its_cleanup(self):
        owner = self.owner()
        self.assertIn(owner.port, self.ports)
        self.assertTrue(allocport.is_claimed(owner.port))
        self.assertEqual(plugin.held_ports(), [owner.port])
        owner.cleanup()
        self.assertFalse(allocport.is_claimed(owner.port))
        self.assertEqual(plugin.held_ports(), [])
        self.assertEqual(pysys_allocport.tcpServerPortPool[-1], owner.port)

    def test_ports_claimed_elsewhere_are_skipped_without_sleeping(self):
        claims = [allocport.try_claim(p) for p in self.ports[:2]]
        try:
            started = time.monotonic()
            owner = self.owner()
            elapsed = time.monotonic() - started
            self.assertEqual(owner.port, self.ports[2])
            self.assertLess(elapsed, 0.4)  # PySys alone: 0.5 s for each of the two
            # PySys's order is kept: the skipped ports went to the end of its queue.
            self.assertEqual(list(pysys_allocport.tcpServerPortPool), self.ports[:2])
            owner.cleanup()
        finally:
            for claim in claims:
                claim.release()

    def test_an_empty_pool_waits_for_a_cleanup_and_is_woken_by_it(self):
        saved, doorbell.LOOK_AGAIN_SECS = doorbell.LOOK_AGAIN_SECS, 60.0
        self.addCleanup(setattr, doorbell, "LOOK_AGAIN_SECS", saved)
        TIMEOUTS["WaitForAvailableTCPPort"] = 30
        owners = [self.owner() for _ in self.ports]
        got = []
        waiter = threading.Thread(target=lambda: got.append(self.owner()), daemon=True)
        with self.assertLogs("pysys.allocport", logging.WARNING) as logs:
            waiter.start()
            time.sleep(0.5)
            self.assertEqual(got, [])
            owners[1].cleanup()
            waiter.join(5)
        self.assertFalse(waiter.is_alive(), "the cleanup did not wake the waiting allocation")
        self.assertEqual(got[0].port, owners[1].port)
        self.assertIn("Unable to allocate a TCP port yet", logs.output[0])
        for owner in [owners[0], owners[2], got[0]]:
            owner.cleanup()

    def test_the_timeout_is_pysys_s(self):
        TIMEOUTS["WaitForAvailableTCPPort"] = 0.3
        claims = [allocport.try_claim(p) for p in self.ports]
        try:
            with self.assertRaises(Exception) as caught:
                self.owner()
            self.assertIn("Timed out trying to allocate a free TCP server port after 0.3 secs",
                          str(caught.exception))
        finally:
            for claim in claims:
                claim.release()

    def test_excluded_ports_and_statistics_behave_as_in_pysys(self):
        before = pysys_allocport.logPortAllocationStats()["lifetimeTotalAllocatedPorts"]
        pysys_allocport.excludedTCPPorts.add(self.ports[0])
        owner = self.owner()
        self.assertEqual(owner.port, self.ports[1])
        self.assertNotIn(self.ports[0], pysys_allocport.tcpServerPortPool)
        stats = pysys_allocport.logPortAllocationStats()
        self.assertEqual(stats["lifetimeTotalAllocatedPorts"], before + 1)
        self.assertGreaterEqual(stats["peakAllocatedPorts"], 2)
        owner.cleanup()

    def test_the_runner_s_cleanup_puts_pysys_back_and_frees_leaked_claims(self):
        owner = self.owner()
        self.assertIsNot(pysys_allocport.allocateTCPPort, self.original)
        for cleanup in self.runner.cleanups:
            cleanup()
        self.runner.cleanups = []
        self.assertIs(pysys_allocport.allocateTCPPort, self.original)
        self.assertFalse(allocport.is_claimed(owner.port))


@unittest.skipIf(pysys_allocport is None, "PySys is not installed")
class PluginSetupTest(unittest.TestCase):
    def setups_without_the_kernel_store(self, environ, platform):
        original = pysys_allocport.allocateTCPPort
        saved = plugin.why_not_kernel
        plugin.why_not_kernel = lambda: allocport.store.why_not_kernel(environ, platform)
        del plugin._said_unsupported[:]
        try:
            with self.assertLogs("pysys.allocport", logging.WARNING) as logs:
                plugin.SharedPortsPlugin().setup(FakeRunner())
                plugin.SharedPortsPlugin().setup(FakeRunner())
        finally:
            plugin.why_not_kernel = saved
            del plugin._said_unsupported[:]
        self.assertEqual(len(logs.output), 1)
        self.assertIs(pysys_allocport.allocateTCPPort, original)
        return logs.output[0]

    def test_on_another_system_it_says_so_once_and_changes_nothing(self):
        message = self.setups_without_the_kernel_store({}, "darwin")
        self.assertIn("cannot share the port pool", message)
        self.assertIn("Linux only, and this is darwin", message)

    def test_with_the_file_store_chosen_it_says_so_once_and_changes_nothing(self):
        message = self.setups_without_the_kernel_store({"ALLOCPORT_STORE": "files"}, "linux")
        self.assertIn('ALLOCPORT_STORE="files" chooses the file store', message)
        message = self.setups_without_the_kernel_store({"ALLOCPORT_LOCK_DIR": "/x"}, "linux")
        self.assertIn("ALLOCPORT_LOCK_DIR is set", message)

    def test_a_bad_namespace_stops_the_run_naming_it(self):
        saved = os.environ["ALLOCPORT_NAMESPACE"]
        os.environ["ALLOCPORT_NAMESPACE"] = "bad tag"
        try:
            with self.assertRaises(allocport.InvalidEnv) as caught:
                plugin.SharedPortsPlugin().setup(FakeRunner())
        finally:
            os.environ["ALLOCPORT_NAMESPACE"] = saved
        self.assertIn('ALLOCPORT_NAMESPACE: "bad tag"', str(caught.exception))


if __name__ == "__main__":
    unittest.main()
