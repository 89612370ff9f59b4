"""Which store the Rust crates use in this environment, read as they read it:
`ALLOCPORT_STORE=kernel` or `files`; unset, an `ALLOCPORT_LOCK_DIR` that is set chooses the
files, and otherwise Linux uses the kernel's. This package speaks only the kernel store, and
never falls back silently: processes on two stores do not exclude each other."""

import os
import sys

from .errors import InvalidEnv

ALLOCPORT_STORE = "ALLOCPORT_STORE"
ALLOCPORT_LOCK_DIR = "ALLOCPORT_LOCK_DIR"


def store_kind(environ=None, platform=None):
    """`"kernel"` or `"files"`, as allocport's Rust crates choose in this environment.

    >>> store_kind({}, "linux"), store_kind({"ALLOCPORT_LOCK_DIR": "/x"}, "linux")
    ('kernel', 'files')
    >>> store_kind({}, "darwin")
    'files'
    """
    environ = os.environ if environ is None else environ
    linux = (platform or sys.platform).startswith("linux")
    value = environ.get(ALLOCPORT_STORE, "")
    if not value:
        return "kernel" if linux and not environ.get(ALLOCPORT_LOCK_DIR, "") else "files"
    if value == "files":
        return "files"
    if value == "kernel" and linux:
        return "kernel"
    if value == "kernel":
        raise InvalidEnv(
            ALLOCPORT_STORE, value,
            "names the kernel store, which exists on Linux only: use `files` (the default here)",
        )
    raise InvalidEnv(ALLOCPORT_STORE, value, "is not a store: use `kernel` (Linux) or `files`")


def why_not_kernel(environ=None, platform=None):
    """Why allocport's Rust crates would not use the kernel store here, or `None` if they would.

    >>> why_not_kernel({"ALLOCPORT_STORE": "files"}, "linux")
    'ALLOCPORT_STORE="files" chooses the file store'
    """
    environ = os.environ if environ is None else environ
    platform = platform or sys.platform
    if store_kind(environ, platform) == "kernel":
        return None
    if not platform.startswith("linux"):
        return "the kernel claim store is Linux only, and this is %s" % platform
    if environ.get(ALLOCPORT_STORE, ""):
        return '%s="%s" chooses the file store' % (ALLOCPORT_STORE, environ[ALLOCPORT_STORE])
    return "%s is set, which chooses the file store" % ALLOCPORT_LOCK_DIR
