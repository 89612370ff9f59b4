import collections
import threading
import time
import unittest

import allocport
from allocport import doorbell, names
from allocport.doorbell import Doorbell, ring_doorbells
from allocport.pool import take_port

from .support import Child, free_ports

def doorbell_bound(number):
    import socket

    probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        probe.bind(names.doorbell_name(number))
    except OSError:
        return True
    finally:
        probe.close()
    return False


WAIT_FOR_BELL = """
import time, allocport
bell = allocport.Doorbell()
print("number %d" % bell.number, flush=True)
started = time.monotonic()
rung = False
while not rung and time.monotonic() - started < 10:
    rung = bell.wait(10)
print("rung" if rung else "never rung", flush=True)
"""


class DoorbellTest(unittest.TestCase):
    def test_nobody_waiting_answers_no_ring(self):
        self.assertEqual(ring_doorbells(), 0)

    def test_a_waiter_takes_the_lowest_free_number_and_moves_lower(self):
        with Doorbell() as first, Doorbell() as second:
            self.assertEqual((first.number, second.number), (0, 1))
            first.close()
            self.assertFalse(second.wait(0.01))
            self.assertEqual(second.number, 0)

    def test_a_ring_wakes_a_waiter_of_another_process(self):
        child = Child(WAIT_FOR_BELL)
        try:
            child.expect("number 0")
            self.assertEqual(ring_doorbells(), 1)
            child.expect("rung")
        finally:
            child.close()

    def test_a_ring_names_the_released_port(self):
        import socket

        bell = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bell.bind(names.doorbell_name(0))
        bell.settimeout(5)
        try:
            (port,) = free_ports(1)
            allocport.try_claim(port).release()
            self.assertEqual(bell.recv(16), bytes([port >> 8, port & 255]))
            ring_doorbells()
            self.assertEqual(bell.recv(16), b"")
            # A claim given back unused rings nobody.
            allocport.try_claim(port).release(ring=False)
            bell.settimeout(0.05)
            self.assertRaises(socket.timeout, bell.recv, 16)
        finally:
            bell.close()

    def test_a_ring_is_kept_until_the_waiter_looks(self):
        with Doorbell() as bell:
            ring_doorbells()
            ring_doorbells()
            self.assertTrue(bell.wait(0))
            self.assertFalse(bell.wait(0))  # drained

    def test_rings_stop_at_the_first_number_nobody_has(self):
        with Doorbell(), Doorbell() as second, Doorbell():
            self.assertEqual(ring_doorbells(), 3)
            second.close()
            self.assertEqual(ring_doorbells(), 1)


HOLD_POOL_PORT = """
import sys, allocport
pool = allocport.PortPool([%d])
held = pool.allocate(hosts=["127.0.0.1"], timeout=10)
print("held", flush=True)
sys.stdin.readline()
held.release()
print("released", flush=True)
"""


class PoolTest(unittest.TestCase):
    def test_a_port_claimed_elsewhere_is_skipped_at_once(self):
        ports = free_ports(4)
        claims = [allocport.try_claim(p) for p in ports[:3]]
        try:
            started = time.monotonic()
            held = allocport.PortPool(ports).allocate(hosts=["127.0.0.1"], timeout=10)
            elapsed = time.monotonic() - started
            self.assertEqual(held.port, ports[3])
            # PySys sleeps 0.5 s on each busy port; three were met here.
            self.assertLess(elapsed, 0.4)
            held.release()
        finally:
            for claim in claims:
                claim.release()

    def test_a_port_bound_by_another_program_is_given_back_unrung(self):
        import socket

        ports = free_ports(2)
        server = socket.socket()
        server.bind(("127.0.0.1", ports[0]))
        try:
            with allocport.PortPool(ports).allocate(hosts=["127.0.0.1"], timeout=10) as held:
                self.assertEqual(held.port, ports[1])
                self.assertFalse(allocport.is_claimed(ports[0]))
        finally:
            server.close()

    def test_an_empty_pool_waits_for_a_release_in_another_process(self):
        (port,) = free_ports(1)
        child = Child(HOLD_POOL_PORT % port)
        try:
            child.expect("held")
            got = []
            waiter = threading.Thread(daemon=True,
                target=lambda: got.append(
                    allocport.PortPool([port]).allocate(hosts=["127.0.0.1"], timeout=20)
                )
            )
            waiter.start()
            time.sleep(0.5)
            self.assertEqual(got, [])
            child.say("release")
            child.expect("released")
            waiter.join(20)
            self.assertEqual([h.port for h in got], [port])
            got[0].release()
        finally:
            child.close()

    def test_the_doorbell_wakes_a_waiting_allocation(self):
        # The waiter's first look finds nothing; it binds doorbell 0 and sleeps on it, for
        # longer than the test waits unless the ring wakes it.
        ports = free_ports(1)
        saved, doorbell.LOOK_AGAIN_SECS = doorbell.LOOK_AGAIN_SECS, 60.0
        self.addCleanup(setattr, doorbell, "LOOK_AGAIN_SECS", saved)
        claim = allocport.try_claim(ports[0])
        queue = collections.deque(ports)
        woke = []

        def wait():
            started = time.monotonic()
            woke.append(take_port(queue, started + 20, hosts=["127.0.0.1"]))

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        deadline = time.monotonic() + 10
        while not doorbell_bound(0):
            self.assertLess(time.monotonic(), deadline, "the waiter never bound a doorbell")
            time.sleep(0.01)
        claim.release()  # rings
        waiter.join(5)
        self.assertFalse(waiter.is_alive(), "the ring did not wake the waiter")
        self.assertEqual(woke[0][0], ports[0])
        woke[0][1].release()

    def test_a_pool_refuses_to_start_where_the_rust_crates_use_the_file_store(self):
        import os

        os.environ["ALLOCPORT_STORE"] = "files"
        try:
            with self.assertRaises(allocport.StoreUnavailable) as caught:
                allocport.PortPool([1])
        finally:
            del os.environ["ALLOCPORT_STORE"]
        self.assertIn('ALLOCPORT_STORE="files" chooses the file store', str(caught.exception))

    def test_a_timeout_names_the_pool(self):
        ports = free_ports(2)
        claims = [allocport.try_claim(p) for p in ports]
        try:
            with self.assertRaises(allocport.Timeout) as caught:
                allocport.PortPool(ports).allocate(hosts=["127.0.0.1"], timeout=0.3)
            self.assertIn("the pool has 2 ports, 0 held by this process", str(caught.exception))
        finally:
            for claim in claims:
                claim.release()


if __name__ == "__main__":
    unittest.main()
