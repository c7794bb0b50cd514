"""A seccomp filter for bwrap jobs: no new user namespaces, no foreign syscall ABIs.

When the worker is root, bwrap builds the sandbox privileged and the job drops to its own uid
(so process limits bind); bwrap's ``--disable-userns`` needs a user namespace of its own and
is not available then. An unprivileged job could still create a user namespace and be "root"
in it: no power over the host, but the kernel's largest attack surface. This filter refuses
``unshare``/``clone`` with ``CLONE_NEWUSER`` (EPERM) and ``clone3`` (ENOSYS, so the C library
falls back to ``clone``, whose flags a filter can read), refuses ``memfd_create``, ``shmget`` and
``msgget`` (ENOSYS: anonymous files, SysV shared memory and message queues hold host memory
that no rlimit counts), and refuses every syscall made
through another ABI (32-bit or x32 entry points a filter written for x86-64 would not see).

Classic BPF, built by hand: the kernel's ``struct sock_filter`` is 8 bytes (u16 code, u8 jt,
u8 jf, u32 k) and the program reads ``struct seccomp_data`` (nr at 0, arch at 4, args at 16).
"""

from __future__ import annotations

import errno
import os
import platform
import struct

_AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
_NR = {  # unshare, clone, clone3, memfd_create, shmget, msgget
    "x86_64": (272, 56, 435, 319, 29, 68),
    "aarch64": (97, 220, 435, 279, 194, 186),
}
CLONE_NEWUSER = 0x10000000
_X32_BIT = 0x40000000

# BPF opcodes
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_JSET_K = 0x45
_RET_K = 0x06
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_RET_ERRNO = 0x00050000


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def program() -> bytes | None:
    """The filter for this machine's architecture; ``None`` where it is not known."""
    machine = platform.machine()
    if machine not in _AUDIT_ARCH:
        return None
    unshare, clone, clone3, memfd, shmget, msgget = _NR[machine]
    eperm = SECCOMP_RET_ERRNO | errno.EPERM
    enosys = SECCOMP_RET_ERRNO | errno.ENOSYS
    x86 = machine == "x86_64"
    code = [
        _insn(_LD_W_ABS, 0, 0, 4),  # 0: arch
        _insn(_JEQ_K, 1, 0, _AUDIT_ARCH[machine]),  # 1: ours → 3
        _insn(_RET_K, 0, 0, eperm),  # 2: another ABI: refused
        _insn(_LD_W_ABS, 0, 0, 0),  # 3: nr
        _insn(_JGE_K, 0, 1, _X32_BIT if x86 else 0xFFFFFFFF),  # 4: x32 → 5, else → 6
        _insn(_RET_K, 0, 0, eperm),  # 5
        _insn(_JEQ_K, 6, 0, unshare),  # 6: → 13
        _insn(_JEQ_K, 5, 0, clone),  # 7: → 13
        _insn(_JEQ_K, 8, 0, clone3),  # 8: → 17
        _insn(_JEQ_K, 7, 0, memfd),  # 9: → 17
        _insn(_JEQ_K, 6, 0, shmget),  # 10: → 17
        _insn(_JEQ_K, 5, 0, msgget),  # 11: → 17
        _insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW),  # 12
        _insn(_LD_W_ABS, 0, 0, 16),  # 13: args[0], low 32 bits (flags)
        _insn(_JSET_K, 0, 1, CLONE_NEWUSER),  # 14: new user ns → 15, else → 16
        _insn(_RET_K, 0, 0, eperm),  # 15
        _insn(_RET_K, 0, 0, SECCOMP_RET_ALLOW),  # 16
        _insn(_RET_K, 0, 0, enosys),  # 17: clone3 → libc falls back to clone; the rest refused
    ]
    return b"".join(code)


def program_fd() -> int | None:
    """A file descriptor holding the filter, for ``bwrap --seccomp FD`` (caller closes it)."""
    code = program()
    if code is None:
        return None
    fd = os.memfd_create("duragent-seccomp", 0)
    os.write(fd, code)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
