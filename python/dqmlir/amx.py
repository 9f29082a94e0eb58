"""Permission to use Intel AMX tiles (Linux).

Linux hands out the AMX tile state (XFEATURE_XTILEDATA, 8 KiB per thread)
only to processes that ask: until then every AMX instruction raises SIGILL.
`request_amx_permission()` asks once for the whole process (threads included).
The runtime asks by itself when it opens a model built for the amx level
(lib/Runtime/CPUFeatures.cpp); tests and benchmarks use this module to learn
whether the AMX paths can run here at all.
"""
import ctypes
import functools
import platform

_SYS_ARCH_PRCTL = 158
_ARCH_GET_XCOMP_PERM = 0x1022
_ARCH_REQ_XCOMP_PERM = 0x1023
_XFEATURE_XTILEDATA = 18


def host_has_amx() -> bool:
    """Whether the CPU has amx_tile and amx_int8 (per /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split()
                    return "amx_tile" in flags and "amx_int8" in flags
    except OSError:
        pass
    return False


@functools.cache
def request_amx_permission() -> bool:
    """Asks Linux for the AMX tile state; True if this process may use AMX."""
    if platform.system() != "Linux" or platform.machine() != "x86_64" or not host_has_amx():
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syscall = libc.syscall
        syscall.restype = ctypes.c_long
        if syscall(ctypes.c_long(_SYS_ARCH_PRCTL), ctypes.c_long(_ARCH_REQ_XCOMP_PERM),
                   ctypes.c_ulong(_XFEATURE_XTILEDATA)) != 0:
            return False
        mask = ctypes.c_ulonglong(0)
        if syscall(ctypes.c_long(_SYS_ARCH_PRCTL), ctypes.c_long(_ARCH_GET_XCOMP_PERM),
                   ctypes.byref(mask)) != 0:
            return False
        return bool(mask.value & (1 << _XFEATURE_XTILEDATA))
    except (OSError, AttributeError):
        return False
