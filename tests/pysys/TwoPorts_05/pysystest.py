__pysys_title__ = r""" Two ports from PySys, each bound by this test's own server while allocport holds others """
__pysys_purpose__ = r""" The shared pool: a port another holder has claimed is never handed out. """
__pysys_created__ = "2026-12-07"

from twoports import TwoPortsTest as PySysTest  # noqa: F401 (PySys looks the class up by name)
