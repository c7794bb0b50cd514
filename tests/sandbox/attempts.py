"""The escape attempts: what a hostile job (a model's code, say) would try, one per entry.

Each attempt is Python run as the job. It reads the host's particulars from ``input.json``
(``Host``) and calls ``escaped(...)`` the moment it gets through; when the kernel
refuses it (an ``OSError``) or it finds nothing, it prints ``contained: ...``. Any other
exception is a bug in the attempt and fails its test, so an attempt cannot pass by not
running. Attempts marked ``control`` are also run without a sandbox, as the worker, where they
must get through: that shows each is a real attempt, stopped by the sandbox alone.

Some attempts leave evidence on the host instead (a file planted, a process killed):
``after`` looks for it there and returns what it found.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class Host:
    """The worker's host as a job must not see it (passed to jobs as their ``input.json``)."""

    port: int
    """A TCP listener on the host's 127.0.0.1."""
    temporal: list[str | int]
    """The Temporal frontend the worker talks to: [address, port]."""
    abstract: str
    """An abstract unix socket's name (no file: the network namespace is all that hides it)."""
    unix_socket: str
    config: str
    """The worker's config file: mode 0644, holding ``secret``."""
    secret: str
    needle: str
    """The start of ``secret``: jobs look for it; only the host knows the whole value."""
    token: str
    """A unique name for files a job tries to plant on the host."""
    worker_pid: int
    bystander_pid: int
    """A process of the host's own, running as root when the worker does."""
    repo: str
    home: str
    site_packages: str
    prefixes: list[str]
    """The worker's Python installation: bound read-only into bwrap sandboxes, so visible."""
    jobs_root: str
    """The work directories' parent on the host."""

    def data(self) -> dict[str, object]:
        """What a job is told: everything but the secret itself."""
        return {k: v for k, v in asdict(self).items() if k != "secret"}


_PRELUDE = """\
import ctypes, json, os, signal, socket, stat, subprocess, sys, time
host = json.load(open("input.json"))
libc = ctypes.CDLL(None, use_errno=True)


def escaped(detail):
    print("ESCAPED:", detail)
    sys.exit(0)


def check(result, what):
    if result != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")

"""


def program(body: str) -> str:
    """The job's source for an attempt's ``body``."""
    return (
        _PRELUDE
        + "try:\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "    ")
        + "\nexcept OSError as error:\n"
        + "    print('contained:', type(error).__name__, error)\n"
        + "else:\n"
        + "    print('contained: nothing reached')\n"
    )


def _planted(*paths: Callable[[Host], Path]) -> Callable[[Host], list[str]]:
    """Files the attempt tried to create on the host: any that exist are removed, and named."""

    def after(host: Host) -> list[str]:
        found = []
        for path in (p(host) for p in paths):
            if path.exists() or path.is_symlink():
                found.append(f"{path} was written")
                path.unlink()
        return found

    return after


def _bystander_alive(host: Host) -> list[str]:
    try:
        os.kill(host.bystander_pid, 0)
        state = Path(f"/proc/{host.bystander_pid}/stat").read_text().split()[2]
    except (ProcessLookupError, FileNotFoundError):
        return [f"the host's process {host.bystander_pid} is gone"]
    return [] if state != "Z" else [f"the host's process {host.bystander_pid} was killed"]


@dataclass(frozen=True)
class Attempt:
    name: str
    body: str
    control: Literal["any", "root"] | None = None
    """Gets through without a sandbox: for any worker, or for one running as root."""
    after: Callable[[Host], list[str]] | None = None
    must_finish: bool = True
    """The job runs to its end (not so when it may kill its own sandbox)."""

    def __str__(self) -> str:
        return self.name


ATTEMPTS = [
    # -- network ---------------------------------------------------------------------------
    Attempt(
        "tcp_to_a_host_loopback_service",
        """
        socket.create_connection(("127.0.0.1", host["port"]), timeout=2)
        escaped(f"connected to the host's 127.0.0.1:{host['port']}")
        """,
        control="any",
    ),
    Attempt(
        "tcp_to_the_temporal_frontend",
        """
        address, port = host["temporal"]
        socket.create_connection((address, port), timeout=2)
        escaped(f"connected to Temporal at {address}:{port}")
        """,
        control="any",
    ),
    Attempt(
        "tcp_to_a_public_address",
        """
        socket.create_connection(("1.1.1.1", 443), timeout=2)
        escaped("connected to 1.1.1.1:443")
        """,
    ),
    Attempt(
        "dns_lookup",
        """
        found = socket.getaddrinfo("example.com", 80, proto=socket.IPPROTO_TCP)
        escaped(f"resolved example.com: {found[0][4]}")
        """,
    ),
    Attempt(
        "udp_to_a_public_resolver",
        """
        query = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.sendto(query, ("8.8.8.8", 53))
        escaped("a datagram left for 8.8.8.8:53")
        """,
    ),
    Attempt(
        "network_interfaces_beyond_loopback",
        """
        names = [name for _, name in socket.if_nameindex()]
        if set(names) - {"lo"}:
            escaped(f"sees the interfaces {names}")
        """,
        control="any",
    ),
    Attempt(
        "abstract_unix_socket_of_the_host",
        """
        socket.socket(socket.AF_UNIX).connect("\\0" + host["abstract"])
        escaped(f"connected to the host's abstract socket {host['abstract']}")
        """,
        control="any",
    ),
    Attempt(
        "unix_socket_file_of_the_host",
        """
        socket.socket(socket.AF_UNIX).connect(host["unix_socket"])
        escaped(f"connected to {host['unix_socket']}")
        """,
        control="any",
    ),
    # -- writing outside the work directory ------------------------------------------------
    Attempt(
        "write_into_etc",
        """
        open("/etc/" + host["token"], "w").write("planted")
        escaped("wrote /etc/" + host["token"])
        """,
        after=_planted(lambda h: Path("/etc", h.token)),
    ),
    Attempt(
        "write_a_pth_file_into_the_workers_site_packages",
        """
        target = os.path.join(host["site_packages"], host["token"] + ".pth")
        open(target, "w").write("# would run in every worker that starts\\n")
        escaped("wrote " + target)
        """,
        after=_planted(lambda h: Path(h.site_packages, h.token + ".pth")),
    ),
    Attempt(
        "write_into_the_repository",
        """
        open(os.path.join(host["repo"], host["token"]), "w").write("planted")
        escaped("wrote into " + host["repo"])
        """,
        after=_planted(lambda h: Path(h.repo, h.token)),
    ),
    Attempt(
        "write_beside_the_work_directory",
        """
        for target in ["../" + host["token"], "../../" + host["token"]]:
            try:
                open(target, "w").write("planted")
            except OSError:
                continue
            escaped("wrote " + os.path.abspath(target))
        raise PermissionError("no directory above the work directory is writable")
        """,
        after=_planted(lambda h: Path(h.jobs_root, h.token), lambda h: Path("/tmp", h.token)),
    ),
    Attempt(
        "leave_a_file_in_the_hosts_tmp",
        """
        open("/tmp/" + host["token"], "w").write("planted")
        """,
        after=_planted(lambda h: Path("/tmp", h.token)),
    ),
    # -- reading the host ------------------------------------------------------------------
    Attempt(
        "read_etc_shadow",
        """
        escaped("read /etc/shadow: " + open("/etc/shadow").read()[:30])
        """,
        control="root",
    ),
    Attempt(
        "read_the_workers_config_file",
        """
        escaped("read the worker's config: " + open(host["config"]).read())
        """,
        control="any",
    ),
    Attempt(
        "read_the_repository",
        """
        path = os.path.join(host["repo"], "pyproject.toml")
        escaped(f"read {path}: " + open(path).read()[:40])
        """,
        control="any",
    ),
    Attempt(
        "read_the_workers_home",
        """
        bound = tuple(p + "/" for p in host["prefixes"])
        for where, dirs, files in os.walk(host["home"]):
            dirs[:] = [d for d in dirs if not (os.path.join(where, d) + "/").startswith(bound)]
            readable = [f for f in files if os.access(os.path.join(where, f), os.R_OK)]
            if readable:
                escaped(f"reads {where}/{readable[0]}")
        """,
        control="root",
    ),
    Attempt(
        "host_device_files",
        """
        devices = ["/dev/vda", "/dev/sda", "/dev/nvme0n1", "/dev/mem", "/dev/kmem", "/dev/port",
                   "/dev/kmsg", "/dev/loop0", "/dev/kvm", "/dev/fuse", "/dev/mapper/control"]
        present = [d for d in devices if os.path.exists(d)]
        if present:
            escaped(f"sees the host's devices {present}")
        """,
        control="any",
    ),
    Attempt(
        "hard_link_a_host_file_into_the_output",
        """
        for source in [host["config"], "/etc/ld.so.cache", "/usr/bin/su"]:
            try:
                os.link(source, "out/" + os.path.basename(source))
            except OSError:
                continue
            escaped(f"hard-linked {source} into out/")
        raise PermissionError("no host file could be linked")
        """,
        control="root",
    ),
    # -- the worker's secrets and processes ------------------------------------------------
    Attempt(
        "secrets_in_the_environment",
        """
        seen = dict(os.environ)
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                seen[pid] = open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
            except OSError:
                pass
        for where, value in seen.items():
            if host["needle"] in value:
                escaped(f"found the worker's secret in {where}: {value}")
        """,
        control="any",
    ),
    Attempt(
        "the_workers_proc_entries",
        """
        pid = host["worker_pid"]
        for name in ["cmdline", "environ", "status"]:
            try:
                text = open(f"/proc/{pid}/{name}", "rb").read()
            except OSError:
                continue
            if b"pytest" in text or host["needle"].encode() in text:
                escaped(f"read /proc/{pid}/{name}: {text[:200]!r}")
        """,
        control="any",
    ),
    Attempt(
        "other_processes_in_proc",
        """
        mine = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                mine.append(open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\\0", b" "))
            except OSError:
                pass
        foreign = [c for c in mine if b"pytest" in c or b"temporal" in c or b"sleep 300" in c]
        if foreign:
            escaped(f"sees the host's processes: {foreign[:3]}")
        """,
        control="any",
    ),
    # -- signals ---------------------------------------------------------------------------
    Attempt(
        "probe_the_worker_with_signal_0",
        """
        os.kill(host["worker_pid"], 0)
        escaped(f"can signal the worker (pid {host['worker_pid']})")
        """,
        control="any",
    ),
    Attempt(
        "kill_a_host_process",
        """
        os.kill(host["bystander_pid"], signal.SIGKILL)
        escaped(f"killed the host's process {host['bystander_pid']}")
        """,
        after=_bystander_alive,
    ),
    Attempt(
        "kill_the_parent",
        """
        parent = os.getppid()
        owner = [line.split()[1] for line in open(f"/proc/{parent}/status")
                 if line.startswith("Uid")][0]
        os.kill(parent, signal.SIGKILL)
        if int(owner) != os.getuid():
            escaped(f"killed its parent (pid {parent}, uid {owner})")
        time.sleep(1)  # its parent was its own (docker's init, say): the sandbox ends here
        """,
        after=_bystander_alive,
        must_finish=False,
    ),
    Attempt(
        "kill_every_process_it_can",
        """
        os.kill(-1, signal.SIGKILL)  # everything the job may signal, but itself
        time.sleep(0.2)
        """,
        after=_bystander_alive,
    ),
    Attempt(
        "ptrace_the_sandbox_init",
        """
        check(libc.ptrace(16, 1, None, None), "ptrace(PTRACE_ATTACH, 1)")
        escaped("attached to pid 1")
        """,
    ),
    # -- privilege -------------------------------------------------------------------------
    Attempt(
        "become_root_with_setuid",
        """
        os.setuid(0)
        escaped("setuid(0) worked")
        """,
        control="root",
    ),
    Attempt(
        "runs_as_root_or_the_workers_uid",
        """
        ids = {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid()}
        print("ids", json.dumps(ids), os.getgroups())
        if 0 in ids.values() or 0 in os.getgroups():
            escaped(f"runs as root: {ids}")
        """,
        control="root",
    ),
    Attempt(
        "holds_capabilities",
        """
        status = dict(
            line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
            if ":\\t" in line
        )
        sets = ("CapInh", "CapPrm", "CapEff", "CapAmb")
        held = {k: status[k] for k in sets if int(status[k], 16)}
        if held:
            escaped(f"holds capabilities {held}")
        if status["NoNewPrivs"].strip() != "1":
            escaped("no_new_privs is not set: setuid binaries would raise privileges")
        """,
        control="root",
    ),
    Attempt(
        "gain_root_through_a_setuid_binary",
        """
        binaries = [b for b in ["/usr/bin/su", "/usr/bin/passwd", "/usr/bin/mount"]
                    if os.path.exists(b) and os.stat(b).st_mode & stat.S_ISUID]
        assert binaries, "no setuid binary to try"
        for binary in binaries:
            child = subprocess.Popen([binary], stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.2)  # exec'd by now; even as a zombie its status keeps its uids
            uids = [line for line in open(f"/proc/{child.pid}/status") if line.startswith("Uid")]
            child.kill()
            child.wait()
            if uids[0].split()[2] == "0":
                escaped(f"{binary} ran with effective uid 0: {uids[0].strip()}")
        """,
    ),
    Attempt(
        "mount_a_file_system",
        """
        check(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None), "mount tmpfs on /tmp")
        escaped("mounted a tmpfs")
        """,
    ),
    Attempt(
        "chroot",
        """
        os.chroot("/tmp")
        escaped("chroot worked")
        """,
        control="root",
    ),
    Attempt(
        "create_a_user_namespace",
        """
        clone_newuser = 0x10000000
        if os.fork() == 0:  # the child tries, so the attempt's own process stays as it was
            os._exit(0 if libc.unshare(clone_newuser) == 0 else ctypes.get_errno())
        _, status = os.wait()
        if os.waitstatus_to_exitcode(status) == 0:
            escaped("unshare(CLONE_NEWUSER) worked: root in a namespace of its own")
        tool = subprocess.run(["unshare", "--user", "--map-root-user", "id", "-u"],
                              capture_output=True, text=True)
        if tool.returncode == 0:
            escaped(f"unshare -Ur ran as {tool.stdout.strip()}")
        raise PermissionError(f"unshare: {tool.stderr.strip()}")
        """,
        control="root",
    ),
    Attempt(
        "kernel_controls",
        """
        for path, value in [("/proc/sysrq-trigger", "h"), ("/proc/sys/vm/drop_caches", "1"),
                            ("/proc/sys/kernel/hostname", "pwned")]:
            try:
                open(path, "w").write(value)
            except OSError:
                continue
            escaped(f"wrote {value!r} to {path}")
        check(libc.sethostname(b"pwned", 5), "sethostname")
        escaped("set the hostname")
        """,
    ),
]
