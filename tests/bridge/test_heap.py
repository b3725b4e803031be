"""keep_freed_memory: glibc takes the settings, and freed large arrays are reused (no new pages)."""

import ctypes.util
import platform
import resource

import numpy as np
import pytest

from pbitsim.bridge.heap import keep_freed_memory

glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not glibc, reason="mallopt is glibc's")
def test_large_arrays_reuse_freed_memory():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # once per process; a second call is a no-op

    def faults_of_one_fill():
        a = np.empty(48 << 20, np.uint8)  # 48 MB: above glibc's largest mmap threshold
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        a.fill(1)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        del a
        return after - before

    faults_of_one_fill()  # the heap grows once
    # freshly mmapped each time, the fill faults its pages in again (535 faults measured here
    # without the setting, with transparent huge pages; 12,288 pages of 4 KB without them);
    # reused heap memory faults in none
    assert faults_of_one_fill() < 50
