"""The worker's sandbox: a submission cannot reach its classmates, the installation, the network or outlive its audit.

Each test runs ``rnn-oracle audit --impl`` on submissions of :mod:`tests.sandbox_targets`, with one
layer and two cases. Where this kernel cannot confine a worker (no Landlock, no user namespaces) the
tests of the attempts skip, and those of :data:`oracle.targets.sandbox.LACKS_VARIABLE` still check
what the report says of a kernel without them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import pytest

import oracle
from oracle.cli import main
from oracle.targets.boundary import open_target
from oracle.targets.confine import landlock_abi
from oracle.targets.loading import TargetError
from oracle.targets.sandbox import LACKS_VARIABLE, PROTECTIONS, policy_for
from tests.sandbox_targets import ATTEMPTS, READS_ITS_DATA, processes_with, write_class

OPTIONS = ("--layers", "rnn_step", "--cases", "2", "--timeout", "5")


def user_namespaces() -> bool:
    """Whether this kernel lets a process enter new user, network and PID namespaces (tried in a fresh Python)."""
    flags = 0x10000000 | 0x20000000 | 0x40000000  # CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET
    probe = f"import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare({flags}) != 0)"
    return subprocess.run([sys.executable, "-I", "-c", probe], timeout=60).returncode == 0


CONFINES = sys.platform.startswith("linux") and landlock_abi() >= 4 and user_namespaces()
needs_confinement = pytest.mark.skipif(not CONFINES, reason="this kernel lacks Landlock (ABI 4) or user namespaces")


def audit(capsys, folder: Path, *arguments: str) -> tuple[int, dict, str, str]:
    """``rnn-oracle audit --json ... ARGUMENTS`` run in ``folder``: ``(exit status, its JSON, stdout, stderr)``."""
    path = folder / "verdicts.json"
    previous = Path.cwd()
    os.chdir(folder)
    try:
        code = main(["audit", "--json", str(path), *OPTIONS, *arguments])
    finally:
        os.chdir(previous)
    out, err = capsys.readouterr()
    return code, json.loads(path.read_text()) if path.is_file() else {}, out, err


def findings_of(entry: dict) -> dict[str, set[str]]:
    found = {function: {finding for findings in dtypes.values() for finding in findings} - {"pass"}
             for function, dtypes in entry["verdicts"].items()}
    return {function: findings for function, findings in found.items() if findings}


def listening(path: Path) -> tuple[socket.socket, socket.socket]:
    """A TCP server on 127.0.0.1 and a Unix one at ``path`` (anyone may connect), neither blocking on accept."""
    servers = socket.create_server(("127.0.0.1", 0), backlog=8), socket.socket(socket.AF_UNIX)
    servers[1].bind(str(path))
    servers[1].listen(8)
    path.chmod(0o777)
    for server in servers:
        server.setblocking(False)
    return servers


def left_behind(token: str, seconds: float = 3.0) -> list[int]:
    """The processes holding ``token`` still there after ``seconds`` (a killed namespace takes a moment to go)."""
    deadline = time.monotonic() + seconds
    while (found := processes_with(token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def assert_nothing_got_out(school, before: bytes, printed: str, servers: tuple[socket.socket, socket.socket]) -> None:
    """What every hostile run must show: each attempt was made and failed, and nothing outside its sandbox changed
    (the classmate's file, the installation, the judge's TCP and Unix servers, the processes left)."""
    assert {line.split(":")[0] for line in printed.splitlines()} == set(ATTEMPTS[:-1]), printed
    assert "got through" not in printed
    assert school.classmate.read_bytes() == before and not school.installed.exists()
    for server in servers:
        with pytest.raises(BlockingIOError):
            server.accept()
    assert left_behind(school.token) == []


def clean_up(school, servers: tuple[socket.socket, socket.socket]) -> None:
    """Close the servers, and undo what a failing sandbox would have let the hostile submission leave."""
    for server in servers:
        server.close()
    school.installed.unlink(missing_ok=True)
    for pid in processes_with(school.token):
        os.kill(pid, signal.SIGKILL)


@needs_confinement
@pytest.mark.parametrize(("layout", "jobs"), [("course folders", "1"), ("course folders", "2"),
                                              ("files in one folder", "1")])
def test_a_hostile_submission_reaches_nothing_outside_its_sandbox(layout, jobs, capsys, tmp_path):
    listener, unix = listening(tmp_path / "judge.sock")
    school = write_class(tmp_path, layout, listener.getsockname()[1], tmp_path / "judge.sock")
    before = school.classmate.read_bytes()
    try:
        code, document, _, _ = audit(capsys, tmp_path, "--impl", school.hostile, school.honest, "-j", jobs)
        entries = {entry["target"]: entry for entry in document["targets"]}
        printed = entries[school.hostile]["output"]["import"]["tail"]
        assert findings_of(entries[school.hostile]) == {"rnn_step_backward": {"not_implemented"}}  # nothing copied
        assert entries[school.honest]["error"] is None and findings_of(entries[school.honest]) == {}
        assert code == 1
        assert_nothing_got_out(school, before, printed, (listener, unix))
        assert document["sandbox"]["missing"] == [] and set(document["sandbox"]["held"]) == set(PROTECTIONS)
    finally:
        clean_up(school, (listener, unix))


@needs_confinement
@pytest.mark.parametrize("layout", ["a file", "a course folder"])
def test_a_submission_reads_the_data_files_beside_it(layout, capsys, tmp_path):
    file = tmp_path / ("sub/rnn.py" if layout == "a file" else "sub/cs231n/rnn_layers.py")
    file.parent.mkdir(parents=True)
    file.write_text(READS_ITS_DATA)
    (file.parent / "scale.txt").write_text("1.0\n")
    target = str(file.relative_to(tmp_path) if layout == "a file" else file.parent.relative_to(tmp_path))
    code, document, out, _ = audit(capsys, tmp_path, "--impl", target)
    [entry] = document["targets"]
    assert entry["error"] is None and findings_of(entry) == {}
    assert code == 0
    assert "sandbox: files (Landlock ABI" in out


#: A worker's confinement run alone, in a fresh Python, as if the kernel offered Landlock ABI ``abi`` at most.
OLDER_ABI = """
import json, socket, sys
import oracle.targets.confine as confine

confine.landlock_abi = lambda: {abi}
held = confine.confine(json.loads({policy!r}), ())
outcomes = {{}}
for name, attempt in [("read", lambda: open({secret!r}).read()), ("write", lambda: open({planted!r}, "w")),
                      ("scratch", lambda: open({scratch!r}, "w").write("ok"))]:
    try:
        attempt()
        outcomes[name] = "allowed"
    except OSError:
        outcomes[name] = "denied"
print(json.dumps({{"held": held, "outcomes": outcomes}}))
"""


@needs_confinement
@pytest.mark.parametrize("abi", [1, 2, 3, 4, 5, 6])
def test_an_older_landlock_abi_still_keeps_the_files_of_others_out_of_reach(abi, tmp_path):
    home, other, scratch = tmp_path / "a", tmp_path / "b", tmp_path / "scratch"
    for folder in (home, other, scratch):
        folder.mkdir()
    (other / "rnn_layers.py").write_text("secret = 1\n")
    policy = policy_for("a", tmp_path, scratch, classmates=["b"])
    script = OLDER_ABI.format(abi=abi, policy=policy.wire(), secret=str(other / "rnn_layers.py"),
                              planted=str(home / "planted.py"), scratch=str(scratch / "note.txt"))
    ran = subprocess.run([sys.executable, "-I", "-c", script], capture_output=True, text=True, timeout=60,
                         cwd=scratch)
    found = json.loads(ran.stdout.strip().splitlines()[-1])
    assert found["held"]["files"] == f"Landlock ABI {abi}"
    assert found["outcomes"] == {"read": "denied", "write": "denied", "scratch": "allowed"}
    network = found["held"]["network"]
    assert network.endswith("no Unix sockets") and ("Landlock TCP" in network) == (abi >= 4)


@pytest.mark.parametrize(("lacks", "missing"), [("landlock,namespaces", ["files", "network", "processes"]),
                                                ("namespaces", ["network", "processes"])])
def test_a_kernel_without_a_protection_is_reported_and_refused_under_require(lacks, missing, capsys, tmp_path,
                                                                           monkeypatch):
    if "landlock" not in lacks and not landlock_abi():
        pytest.skip("this kernel lacks Landlock")
    monkeypatch.setenv(LACKS_VARIABLE, lacks)
    (tmp_path / "honest.py").write_text("from impl import *  # noqa: F403\n")
    code, document, out, _ = audit(capsys, tmp_path, "--impl", "honest.py")
    assert code == 0 and document["targets"][0]["sandbox"]["missing"] == missing
    for name in missing:
        assert f"no {name}: " in out
    code, document, _, err = audit(capsys, tmp_path, "--impl", "honest.py", "--sandbox", "require")
    assert code == 2
    assert "--sandbox require" in document["targets"][0]["error"] and "--sandbox require" in err
    assert document["targets"][0]["verdicts"] == {}


def test_sandbox_off_warns_and_says_nothing_held(capsys, tmp_path):
    (tmp_path / "honest.py").write_text("from impl import *  # noqa: F403\n")
    code, document, out, err = audit(capsys, tmp_path, "--impl", "honest.py", "--sandbox", "off")
    assert code == 0
    assert "warning: --sandbox off" in err and "sandbox: off" in out
    assert document["sandbox"] == {"mode": "off", "held": {}, "missing": list(PROTECTIONS), "notes": [],
                                   "seconds": None}


def test_sandbox_needs_impl(capsys):
    assert main(["audit", "--layers", "affine", "--sandbox", "off"]) == 2
    assert "no sandbox holds" in capsys.readouterr().err


NOBODY = 65534


def python_for(user: int, folder: Path) -> str | None:
    """A Python that ``user`` can run with this installation's packages: this one, or a venv of the system's own.

    Where this Python lives in a folder the user cannot read (``/root/.pyenv``), a venv of the system's Python
    of the same version, in ``folder``, finds this installation's packages through a ``.pth`` file.
    """
    def runs(python: str) -> bool:
        spawn = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import numpy, oracle'], check=True)"
        probe = [*as_user(user), python, "-I", "-c", spawn]  # the judge spawns Python processes in turn
        return subprocess.run(probe, capture_output=True, timeout=120).returncode == 0

    if runs(sys.executable):
        return sys.executable
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.is_file():
        return None
    subprocess.run([str(system), "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
    [packages] = folder.glob("lib/python*/site-packages")
    (packages / "this_installation.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\n{Path(oracle.__file__).resolve().parents[1]}\n")
    python = str(folder / "bin" / "python")
    return python if runs(python) else None


def as_user(user: int) -> list[str]:
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--"]


@needs_confinement
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="runs the audit as the unprivileged user nobody, which needs root and setpriv")
def test_an_unprivileged_user_gets_the_same_sandbox():
    """The hostile submission of the test above, audited by the user nobody (uid 65534) instead of root.

    Its classmate's file is left writable by anyone, so that only the sandbox stops the append.
    """
    shared = Path(tempfile.mkdtemp(prefix="rnn-oracle-nobody-"))  # pytest's tmp_path is root's alone
    shared.chmod(0o777)
    try:
        python = python_for(NOBODY, shared / "venv")
        if python is None:
            pytest.skip("no Python that the user nobody can run with this installation's packages")
        audit_as_nobody(python, shared / "class")
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def audit_as_nobody(python: str, folder: Path) -> None:
    folder.mkdir()
    listener, unix = listening(folder / "judge.sock")
    school = write_class(folder, "course folders", listener.getsockname()[1], folder / "judge.sock")
    before = school.classmate.read_bytes()
    for path in [folder, *folder.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    output = folder / "verdicts.json"
    command = [*as_user(NOBODY), python, "-m", "oracle", "audit", "--json", str(output), *OPTIONS,
               "--impl", school.hostile]  # the hostile one alone: its classmate is out of the run, and of reach
    try:
        ran = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "HOME": str(folder)})
        assert output.is_file(), ran.stderr
        document = json.loads(output.read_text())
        [entry] = document["targets"]
        printed = entry["output"]["import"]["tail"]
        assert findings_of(entry) == {"rnn_step_backward": {"not_implemented"}} and ran.returncode == 1, ran.stderr
        assert_nothing_got_out(school, before, printed, (listener, unix))
        assert document["sandbox"]["missing"] == []
    finally:
        clean_up(school, (listener, unix))


def test_a_worker_that_ends_while_confining_itself_is_not_blamed_on_the_target(monkeypatch, tmp_path):
    monkeypatch.setattr("oracle.targets.boundary._WORKER_SOURCE", "import sys; print('no Landlock'); sys.exit(3)")
    (tmp_path / "target.py").write_text("")
    with pytest.raises(TargetError, match=r"ended while confining itself, before it imported the target \(the "
                                          r"worker exited with status 3: no Landlock\)"):
        with open_target("target.py", ("affine_forward",), base=tmp_path):
            pass


@needs_confinement
def test_the_kernel_audit_runs_its_functions_in_a_confined_worker():
    import impl
    from oracle.targets.jupyter import audit_here

    audit = audit_here({"affine_forward": impl.affine_forward}, layers=["affine"], cases=1, sandbox="require")
    assert audit.entry["error"] is None and audit.entry["sandbox"]["missing"] == []
    assert "sandbox: files (Landlock ABI" in str(audit)


def test_a_port_on_the_gpu_is_given_its_device_files_and_the_drivers_sys_files_only(tmp_path):
    """``--device cuda``: the worker may open NVIDIA's device files and read the driver's /sys entries; others not."""
    from oracle.targets.sandbox import DEVICES, GPU_SYSTEM_READ

    (tmp_path / "a").mkdir()
    plain = policy_for("a", tmp_path, tmp_path / "scratch")
    on_gpu = policy_for("a", tmp_path, tmp_path / "scratch", devices=("/dev/nvidia0", "/dev/nvidiactl"))
    assert plain.devices == DEVICES and not set(GPU_SYSTEM_READ) & set(plain.read)
    assert on_gpu.devices == (*DEVICES, "/dev/nvidia0", "/dev/nvidiactl")
    assert set(on_gpu.read) - set(plain.read) == {path for path in GPU_SYSTEM_READ if Path(path).exists()}
