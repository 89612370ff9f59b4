import os
import signal
import socket
import time
import unittest

import allocport
from allocport import names

from .support import HOLD_CLAIM, Child, free_ports


class ClaimTest(unittest.TestCase):
    def test_a_claim_excludes_a_second_until_released(self):
        (port,) = free_ports(1)
        claim = allocport.try_claim(port)
        self.assertIsNotNone(claim)
        self.assertTrue(allocport.is_claimed(port))
        self.assertIsNone(allocport.try_claim(port))
        claim.release()
        self.assertFalse(claim.held)
        self.assertFalse(allocport.is_claimed(port))
        with allocport.try_claim(port) as again:
            self.assertTrue(again.held)
        self.assertFalse(allocport.is_claimed(port))

    def test_tcp_and_udp_claims_are_separate(self):
        (port,) = free_ports(1)
        with allocport.try_claim(port, "tcp"):
            self.assertFalse(allocport.is_claimed(port, "udp"))
            with allocport.try_claim(port, "udp") as udp:
                self.assertIsNotNone(udp)
                self.assertIsNone(allocport.try_claim(port, "udp"))

    def test_the_name_on_the_wire_is_the_protocols(self):
        pfx = names.prefix()
        self.assertEqual(
            names.claim_name(8080), b"\0" + pfx.encode() + b"/tcp/8080\0\x1f\x90"
        )
        self.assertEqual(names.reserved_name(258, "udp"), b"\0" + pfx.encode() + b"/reserved/udp/258\0\x01\x02")
        self.assertEqual(names.wait_token_name(), b"\0" + pfx.encode() + b"/wait-token")
        self.assertEqual(names.doorbell_name(63), b"\0" + pfx.encode() + b"/doorbell/63")
        # A peer binding the name by hand is refused by a claim, and the other way round.
        (port,) = free_ports(1)
        peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        peer.bind(b"\0" + pfx.encode() + ("/tcp/%d\0" % port).encode() + bytes([port >> 8, port & 255]))
        try:
            self.assertIsNone(allocport.try_claim(port))
        finally:
            peer.close()
        with allocport.try_claim(port) as claim:
            self.assertIsNotNone(claim)

    def test_a_claim_held_by_another_process_is_refused_until_it_releases(self):
        (port,) = free_ports(1)
        child = Child(HOLD_CLAIM % port)
        try:
            child.expect("held")
            self.assertIsNone(allocport.try_claim(port))
            self.assertTrue(allocport.is_claimed(port))
            child.say("release")
            child.expect("released")
            with allocport.try_claim(port) as claim:
                self.assertIsNotNone(claim)
        finally:
            child.close()

    def test_another_process_is_refused_a_port_claimed_here(self):
        (port,) = free_ports(1)
        with allocport.try_claim(port):
            child = Child(HOLD_CLAIM % port)
            try:
                child.expect("refused")
            finally:
                child.close()

    def test_a_holder_killed_with_sigkill_frees_its_port(self):
        (port,) = free_ports(1)
        child = Child(HOLD_CLAIM % port)
        try:
            child.expect("held")
            self.assertIsNone(allocport.try_claim(port))
            os.kill(child.proc.pid, signal.SIGKILL)
            self.assertEqual(child.wait(), -signal.SIGKILL)
            # The kernel drops the name when the last descriptor closes, at the holder's death.
            claim = allocport.try_claim(port)
            self.assertIsNotNone(claim)
            claim.release()
        finally:
            child.close()

    def test_a_reserved_port_is_given_back_while_the_wait_token_is_held(self):
        (port,) = free_ports(1)
        reservation = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        reservation.bind(names.reserved_name(port))
        token = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        stream_squatter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.assertTrue(allocport.is_reserved(port))
            # No fair waiter holds the token: the reservation is not looked at.
            with allocport.try_claim(port) as claim:
                self.assertIsNotNone(claim)
            # The token is a datagram name: a stream socket on it is nobody's token.
            stream_squatter.bind(names.wait_token_name())
            with allocport.try_claim(port) as claim:
                self.assertIsNotNone(claim)
            token.bind(names.wait_token_name())
            self.assertIsNone(allocport.try_claim(port))
            self.assertFalse(allocport.is_claimed(port))
            with allocport.try_claim(port, check_reserved=False) as claim:
                self.assertIsNotNone(claim)
        finally:
            reservation.close()
            token.close()
            stream_squatter.close()
        with allocport.try_claim(port) as claim:
            self.assertIsNotNone(claim)

    def test_a_port_the_store_cannot_name_is_a_value_error(self):
        for port in (0, 65536, -1):
            with self.assertRaises(ValueError):
                allocport.try_claim(port)
        with self.assertRaises(ValueError):
            allocport.try_claim(1, "sctp")


class NamespaceTest(unittest.TestCase):
    def test_a_tag_makes_a_separate_store(self):
        (port,) = free_ports(1)
        with allocport.try_claim(port, pfx="allocport-ns-a-%d" % os.getpid()):
            self.assertIsNone(allocport.try_claim(port, pfx="allocport-ns-a-%d" % os.getpid()))
            other = allocport.try_claim(port, pfx="allocport-ns-b-%d" % os.getpid())
            self.assertIsNotNone(other)
            other.release()

    def test_the_tag_comes_from_the_environment(self):
        self.assertEqual(names.prefix({}), "allocport")
        self.assertEqual(names.prefix({"ALLOCPORT_NAMESPACE": ""}), "allocport")
        self.assertEqual(names.prefix({"ALLOCPORT_NAMESPACE": "a" * 32}), "allocport-" + "a" * 32)
        self.assertEqual(names.prefix({"ALLOCPORT_NAMESPACE": "A.z_9-"}), "allocport-A.z_9-")

    def test_a_bad_tag_is_an_error_naming_the_variable_and_value(self):
        for tag in ("a" * 33, "a/b", "a b", "é", "x\n"):
            with self.assertRaises(allocport.InvalidEnv) as caught:
                names.prefix({"ALLOCPORT_NAMESPACE": tag})
            message = str(caught.exception)
            self.assertTrue(message.startswith("ALLOCPORT_NAMESPACE: "), message)
            self.assertIn(allocport.errors.rust_debug(tag), message)
            self.assertIn("is not a store tag", message)

    def test_a_bad_tag_in_the_environment_stops_a_claim(self):
        saved = os.environ["ALLOCPORT_NAMESPACE"]
        os.environ["ALLOCPORT_NAMESPACE"] = "no/slashes"
        try:
            with self.assertRaises(allocport.InvalidEnv):
                allocport.try_claim(free_ports(1)[0])
        finally:
            os.environ["ALLOCPORT_NAMESPACE"] = saved


if __name__ == "__main__":
    unittest.main()
