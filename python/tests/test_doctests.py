"""The examples in the package's documentation run as tests."""

import doctest
import importlib

MODULES = ["allocport", "allocport.names", "allocport.claim", "allocport.doorbell",
           "allocport.spec", "allocport.ports", "allocport.pool", "allocport.errors",
           "allocport.status", "allocport.pysys",
           "allocport.store"]


def load_tests(loader, tests, ignore):
    for name in MODULES:
        tests.addTests(doctest.DocTestSuite(importlib.import_module(name)))
    return tests
