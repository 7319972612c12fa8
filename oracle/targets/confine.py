"""Confining a worker before it imports a target: Landlock, private namespaces, no capabilities (Linux).

This runs in the worker process (:mod:`oracle.targets.worker`) before anything else: before
numpy is imported (its BLAS starts threads, and a process with threads can neither enter a user
namespace nor restrict itself with Landlock) and before the target is. It uses the standard library
alone, and the system calls through :mod:`ctypes` (Landlock has three: ``landlock_create_ruleset``,
``landlock_add_rule``, ``landlock_restrict_self``; the Python bindings on PyPI are development
releases that cover the file system alone, while the network rules and scopes are the same few
structs). The policy comes from the judge (:mod:`oracle.targets.sandbox`) on the command line.

What :func:`confine` does, each step as far as the kernel allows (best effort on older kernels):

1. **Namespaces.** ``unshare(CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWPID)``, mapping the user to
   itself; as root without user namespaces, ``unshare(CLONE_NEWNET | CLONE_NEWPID)``. The private
   network namespace has no interface but a loopback that is down: no TCP, UDP, raw socket or
   abstract Unix socket reaches outside it.
2. **Processes.** With the PID namespace, the worker forks three ways: the *keeper* (the process
   the judge started, outside the namespace) forks the namespace's *init* (PID 1), which forks the
   process that goes on to import the target (PID 2). The init dies with the keeper
   (``PR_SET_PDEATHSIG``), and when a namespace's init dies the kernel kills every process in it,
   whatever session or group it made for itself. The init is not dumpable, so the target cannot
   ptrace it, and the kernel drops the signals that the namespace's own processes send it. The
   keeper passes on how the target's process ended (its exit status, or the signal that killed it).
3. **Files and network (Landlock).** Read access to the policy's ``read`` hierarchies, listing alone
   of its ``list`` folders, read-write access to ``write`` (the scratch folder), devices as the
   policy says, nothing else; no TCP bind or connect (ABI 4); no signal to, and no abstract Unix
   socket of, any process outside the sandbox (ABI 6). ``PR_SET_NO_NEW_PRIVS`` first.
4. **Unix sockets (seccomp).** ``socket(AF_UNIX, ...)`` and ``io_uring_setup`` are refused: Landlock
   does not mediate connecting to a named Unix socket (Docker's, D-Bus's), nor does a network
   namespace hide one. ``socketpair`` still works.
5. **Capabilities.** The bounding set and the capability sets are emptied, so a worker run as root
   keeps uid 0 but none of root's powers (no module loading, no raw I/O, no ``mknod``).

:func:`confine` returns, in the process that will import the target, what held
(:data:`oracle.targets.sandbox.PROTECTIONS`), which the worker sends the judge before the target runs.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import signal
import struct
import sys
import time
from typing import Any

# Landlock (include/uapi/linux/landlock.h).
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_FS = {name: 1 << bit for bit, name in enumerate(
    ("execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file", "make_char", "make_dir",
     "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer", "truncate", "ioctl_dev"))}
#: The file-system rights each ABI knows: 1 the first 13, 2 ``refer``, 3 ``truncate``, 5 ``ioctl_dev``.
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 4: (1 << 15) - 1}
_FS_LATEST = (1 << 16) - 1
_FILE_RIGHTS = _FS["execute"] | _FS["write_file"] | _FS["read_file"] | _FS["truncate"] | _FS["ioctl_dev"]
_NET_TCP = 0b11  # bind, connect (ABI 4)
_SCOPES = 0b11   # abstract Unix sockets, signals (ABI 6)
_READ = _FS["read_file"] | _FS["read_dir"]
#: What a ``run`` hierarchy (the Python installation, the system's libraries) grants: read, and run programs.
_RUN = _READ | _FS["execute"]
#: The scratch folder: everything but devices (``make_char``, ``make_block``, ``ioctl_dev``) and running programs.
_SCRATCH = _FS_LATEST & ~(_FS["make_char"] | _FS["make_block"] | _FS["ioctl_dev"] | _FS["execute"])
#: A device the policy names (``/dev/null``; ``/dev/nvidia0`` where CUDA is asked for).
_DEVICE = _FS["read_file"] | _FS["write_file"] | _FS["ioctl_dev"]

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE, _PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS = 1, 4, 24, 38
_CLONE_NEWUSER, _CLONE_NEWPID, _CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
_CAPABILITY_VERSION_3 = 0x20080522

_libc: Any = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, or disabled)."""
    if not sys.platform.startswith("linux"):
        return 0
    version = _libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def confine(policy: dict[str, Any], keep_fds: tuple[int, ...]) -> dict[str, Any]:
    """Confine this process as ``policy`` says; returns, in the process that will import the target, what held.

    Parameters
    ----------
    policy
        :meth:`oracle.targets.sandbox.SandboxPolicy.wire`: ``mode``, ``read``, ``run``, ``list``, ``write``,
        ``devices`` (paths) and ``lacks`` (kernel features to act as if missing, for tests).
    keep_fds
        The worker's protocol pipes: the keeper and the init close them, so that the judge sees the
        end of the pipe when the target's process ends.

    Returns
    -------
    dict
        ``{"files": text | None, "network": text | None, "processes": text | None, "notes": [text, ...],
        "seconds": s}``: each protection that held, said in a few words, or ``None``; what confining took.
    """
    started = time.monotonic()  # the same clock in the keeper, the init and the target's process
    held: dict[str, Any] = {"files": None, "network": None, "processes": None, "notes": []}
    if policy.get("mode") == "off" or not sys.platform.startswith("linux"):
        return held
    lacks = set(policy.get("lacks", ()))
    _libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no set-user-ID program can give back what is taken here
    namespaces = set() if "namespaces" in lacks else _unshare()
    if "pid" in namespaces:
        _fork_init(keep_fds)
        held["processes"] = "PID namespace"
    abi = 0 if "landlock" in lacks else landlock_abi()
    if abi:
        try:
            _restrict(policy, abi)
        except OSError as error:
            held["notes"].append(f"Landlock ABI {abi} could not be applied: {error}")
            abi = 0
    if abi:
        held["files"] = f"Landlock ABI {abi}"
    unix = _forbid_unix_sockets()
    network = [means for means, holds in (("private namespace", "net" in namespaces), ("Landlock TCP", abi >= 4),
                                          ("no Unix sockets", unix)) if holds]
    if "net" in namespaces:
        held["network"] = ", ".join(network)
    elif network:
        held["notes"].append(f"network denied in part only ({', '.join(network)}): UDP and raw sockets reach out "
                             "without a private network namespace")
    if not unix:
        held["notes"].append("named Unix sockets that your user may open (Docker's, D-Bus's) are still reachable: "
                             "no seccomp filter for this architecture")
    if "unmapped" in namespaces:
        held["notes"].append("the user namespace could not map your user: the target cannot make files")
    if "user" not in namespaces and os.geteuid() == 0:
        held["notes"].append("running as root without a user namespace: capabilities are dropped, uid 0 stays")
    _drop_capabilities()
    held["seconds"] = round(time.monotonic() - started, 4)
    return held


def _unshare() -> set[str]:
    """Enter new user, network and PID namespaces where the kernel lets this user; the ones entered."""
    uid, gid = os.geteuid(), os.getegid()
    if _libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET | _CLONE_NEWPID) == 0:
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError:  # the process stays in the namespaces, as an unmapped user: files it makes fail
            return {"user", "net", "pid", "unmapped"}
        return {"user", "net", "pid"}
    if _libc.unshare(_CLONE_NEWNET | _CLONE_NEWPID) == 0:  # root where user namespaces are off
        return {"net", "pid"}
    return set()


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _fork_init(keep_fds: tuple[int, ...]) -> None:
    """Fork the PID namespace's init and, under it, the process that returns (see the module docstring).

    The keeper and the init never return: each waits and exits as the process below it did.
    """
    alive_read, alive_write = os.pipe()  # the init sees the keeper's end when the keeper is gone
    status_read, status_write = os.pipe()  # the init tells the keeper how the target's process ended
    init = os.fork()
    if init:
        os.close(alive_read)
        os.close(status_write)
        _close(keep_fds)
        _, ended = os.waitpid(init, 0)
        reported = os.read(status_read, 4)
        _end_as(struct.unpack("i", reported)[0] if len(reported) == 4 else ended)
    os.close(alive_write)
    os.close(status_read)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if _readable(alive_read):  # the keeper died before the death signal was set
        os._exit(1)
    target = os.fork()
    if target == 0:
        os.close(alive_read)
        os.close(status_write)
        return
    _close(keep_fds)
    while True:  # as init: reap every orphan, until the target's process ends
        try:
            pid, ended = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(1)
        if pid == target:
            os.write(status_write, struct.pack("i", ended))
            os._exit(0)  # the kernel kills what is left in the namespace


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def _close(fds: tuple[int, ...]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _end_as(status: int) -> None:
    """Exit as a process that ended with wait status ``status`` did: the same exit status, or the same signal."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            signal.signal(number, signal.SIG_DFL)
        except (OSError, ValueError):  # SIGKILL, SIGSTOP
            pass
        os.kill(os.getpid(), number)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _restrict(policy: dict[str, Any], abi: int) -> None:
    """Apply the policy's Landlock ruleset to this process and its future children (ABI ``abi``)."""
    known = _FS_BY_ABI.get(abi, _FS_LATEST)
    attr = _RulesetAttr(known, _NET_TCP if abi >= 4 else 0, _SCOPES if abi >= 6 else 0)
    size = ctypes.sizeof(ctypes.c_uint64) * (3 if abi >= 6 else 2 if abi >= 4 else 1)
    ruleset = _check(_libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size),
                                   ctypes.c_uint32(0)))
    try:
        for key, rights in (("read", _READ), ("run", _RUN), ("list", _FS["read_dir"]), ("write", _SCRATCH),
                            ("devices", _DEVICE)):
            for path in policy.get(key, ()):
                _allow(ruleset, path, rights & known)
        _check(_libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)))
    finally:
        os.close(ruleset)


def _allow(ruleset: int, path: str, rights: int) -> None:
    """Add ``path`` (a folder: all beneath it; a file: itself) with ``rights``; a path that is missing is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= _FILE_RIGHTS
        if rights:
            rule = _PathBeneathAttr(rights, fd)
            _check(_libc.syscall(_SYS_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)))
    finally:
        os.close(fd)


def _check(result: int) -> int:
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, os.strerror(number))
    return result


# seccomp: a classic BPF program over struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6]}.
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2
_RET_ALLOW, _RET_EACCES = 0x7FFF0000, 0x00050000 | 13
_LOAD, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_JMP|JGE|K, BPF_RET|K
_AF_UNIX = 1
_IO_URING_SETUP = 425  # io_uring can make sockets without socket(2); the same number on every architecture
#: ``(AUDIT_ARCH_*, socket(2)'s number)`` of the architectures the filter knows.
_ARCHITECTURES = {"x86_64": (0xC000003E, 41), "aarch64": (0xC00000B7, 198)}


class _SockFilter(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", ctypes.c_uint32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _forbid_unix_sockets() -> bool:
    """Refuse (``EACCES``) ``socket(AF_UNIX, ...)`` and ``io_uring_setup``, and every system call of another ABI.

    Landlock (up to ABI 7) does not mediate connecting to a named Unix socket, and a private network
    namespace does not hide one: without this, a worker could talk to any socket its user may open (Docker's,
    as root). ``socketpair`` still works. ``False`` where the architecture is not known here.
    """
    known = _ARCHITECTURES.get(os.uname().machine)
    if known is None:
        return False
    arch, socket_number = known
    program = [
        (_LOAD, 0, 0, 4),                  # 0: arch
        (_JEQ, 1, 0, arch),                # 1: this ABI: go on; another (i386, x32 via int 0x80): refuse
        (_RET, 0, 0, _RET_EACCES),         # 2
        (_LOAD, 0, 0, 0),                  # 3: nr
        (_JGE, 5, 0, 0x40000000),          # 4: x32 system calls on x86_64: refuse
        (_JEQ, 4, 0, _IO_URING_SETUP),     # 5: refuse
        (_JEQ, 0, 2, socket_number),       # 6: socket(2): look at its family; anything else: allow
        (_LOAD, 0, 0, 16),                 # 7: args[0], low 32 bits
        (_JEQ, 1, 0, _AF_UNIX),            # 8: AF_UNIX: refuse
        (_RET, 0, 0, _RET_ALLOW),          # 9
        (_RET, 0, 0, _RET_EACCES),         # 10
    ]
    filters = (_SockFilter * len(program))(*(_SockFilter(*instruction) for instruction in program))
    prog = _SockFprog(len(program), filters)
    return _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) == 0


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """Empty the bounding set and the capability sets (root keeps uid 0 and loses its powers)."""
    for number in range(64):
        if _libc.prctl(_PR_CAPBSET_DROP, number, 0, 0, 0) != 0 and ctypes.get_errno() == 22:  # EINVAL: no such cap
            break
    _libc.capset(ctypes.byref(_CapHeader(_CAPABILITY_VERSION_3, 0)), (_CapData * 2)())


def confine_worker(argv: list[str]) -> dict[str, Any]:
    """:func:`confine` the worker started with ``argv`` (``REQUEST_FD REPLY_FD LIMIT_BYTES POLICY``)."""
    policy = json.loads(argv[3])
    return confine(policy, (int(argv[0]), int(argv[1])))
