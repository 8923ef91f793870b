"""Run a command under the seccomp filters a systemd unit's settings install, as systemd 252 builds them.

    python tests/deploy/seccomp_sandbox.py UNIT_FILE COMMAND [ARGS...]

Why: the units in config/deploy/systemd/ restrict system calls (`SystemCallFilter=`), socket families
(`RestrictAddressFamilies=`) and writable-and-executable memory (`MemoryDenyWriteExecute=`). A library
that needs one of those (gunicorn chowns its socket, glibc's getrlimit is prlimit64, an old-style cffi
callback needs W+X memory) would fail only on the server. PID 1 here is not systemd, so the tests cannot
start the units; this reads those settings from the unit file, builds the same filters with libseccomp
(the library systemd uses, through ctypes) and execs the command under them, children included. The
syscall groups are expanded by `systemd-analyze syscall-filter`, so they are the ones systemd knows.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_MASKED_EQ = 4, 5, 7
PROT_WRITE, PROT_EXEC, SHM_EXEC = 0x2, 0x4, 0o100000
ADDRESS_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17}
AF_MAX = 46


UNAVAILABLE = (
    "the systemd units' seccomp filters can be reproduced only on x86-64 Linux with libseccomp and systemd-analyze"
    " (Debian's systemd package): skipped"
)


def available() -> bool:
    return (
        platform.system() == "Linux"
        and platform.machine() == "x86_64"
        and ctypes.util.find_library("seccomp") is not None
        and shutil.which("systemd-analyze") is not None
    )


def errno_action(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


class ArgumentCheck(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class Filter:
    """One libseccomp filter: a default action and rules; loading it stacks it on the process's filters."""

    def __init__(self, default_action: int) -> None:
        self.lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        self.lib.seccomp_init.restype = ctypes.c_void_p
        self.lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        self.lib.seccomp_rule_add_array.argtypes = [
            ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint, ctypes.POINTER(ArgumentCheck),
        ]  # fmt: skip
        self.lib.seccomp_load.argtypes = [ctypes.c_void_p]
        self.context = self.lib.seccomp_init(default_action)

    def rule(self, action: int, syscall: str, *checks: tuple[int, int, int, int]) -> None:
        number = self.lib.seccomp_syscall_resolve_name(syscall.encode())
        if number < 0:
            return  # not a syscall of this architecture: systemd skips it too
        array = (ArgumentCheck * max(len(checks), 1))(*(ArgumentCheck(*check) for check in checks))
        result = self.lib.seccomp_rule_add_array(self.context, action, number, len(checks), array)
        if result < 0 and result != -errno.EEXIST:
            raise OSError(-result, f"seccomp_rule_add({syscall})")

    def load(self) -> None:
        result = self.lib.seccomp_load(self.context)
        if result < 0:
            raise OSError(-result, "seccomp_load")


def service_settings(unit_text: str) -> dict[str, list[str]]:
    """Every assignment of the [Service] section, in order; an empty assignment resets a list, as in systemd."""
    settings: dict[str, list[str]] = {}
    section = ""
    for raw in unit_text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]" and "=" in line:
            key, value = (part.strip() for part in line.split("=", 1))
            settings[key] = [*settings.get(key, []), value] if value else []
    return settings


@cache
def syscall_group(name: str) -> frozenset[str]:
    """The syscalls of a group such as @system-service, nested groups expanded, as systemd-analyze lists them."""
    listing = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True)
    names: set[str] = set()
    for line in listing.stdout.splitlines()[1:]:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            names |= syscall_group(entry) if entry.startswith("@") else {entry}
    return frozenset(names)


def expand(words: Iterable[str]) -> set[str]:
    return set().union(*(syscall_group(word) if word.startswith("@") else {word} for word in words))


def allowed_syscalls(assignments: list[str]) -> set[str] | None:
    """The allow list `SystemCallFilter=` lines add up to (None: no filter). As in systemd, the first line decides
    the kind of list; an allow list implicitly holds @default; a later `~` line removes from it."""
    if not assignments:
        return None
    if assignments[0].startswith("~"):
        raise ValueError("the units use an allow list; a deny-list first line is not emulated here")
    allowed = expand(["@default"])
    for assignment in assignments:
        if assignment.startswith("~"):
            allowed -= expand(assignment[1:].split())
        else:
            allowed |= expand(assignment.split())
    return allowed


def filters(settings: dict[str, list[str]]) -> list[Filter]:
    """The filters systemd would install for these settings, in its order: the system call filter last, since it
    would refuse the seccomp() calls that load the others. All are built before any is loaded."""
    built = []
    families = " ".join(settings.get("RestrictAddressFamilies", [])).split()
    if families:
        kept = {ADDRESS_FAMILIES[name] for name in families}
        sockets = Filter(SCMP_ACT_ALLOW)
        for family in set(range(AF_MAX)) - kept:
            sockets.rule(errno_action(errno.EAFNOSUPPORT), "socket", (0, SCMP_CMP_EQ, family, 0))
        sockets.rule(errno_action(errno.EAFNOSUPPORT), "socket", (0, SCMP_CMP_GE, AF_MAX, 0))
        built.append(sockets)
    if settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        memory = Filter(SCMP_ACT_ALLOW)
        write_and_execute = PROT_WRITE | PROT_EXEC
        memory.rule(errno_action(errno.EPERM), "mmap", (2, SCMP_CMP_MASKED_EQ, write_and_execute, write_and_execute))
        for name in ("mprotect", "pkey_mprotect"):
            memory.rule(errno_action(errno.EPERM), name, (2, SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC))
        memory.rule(errno_action(errno.EPERM), "shmat", (2, SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC))
        built.append(memory)
    allowed = allowed_syscalls(settings.get("SystemCallFilter", []))
    if allowed is not None:
        error_names = settings.get("SystemCallErrorNumber", [])
        denied = errno_action(getattr(errno, error_names[-1])) if error_names else SCMP_ACT_KILL_PROCESS
        syscalls = Filter(denied)
        for name in sorted(allowed):
            syscalls.rule(SCMP_ACT_ALLOW, name)
        built.append(syscalls)
    return built


if __name__ == "__main__":
    for built in filters(service_settings(Path(sys.argv[1]).read_text())):
        built.load()
    os.execvp(sys.argv[2], sys.argv[2:])
