"""A workshop on JupyterHub: the classroom server, and a hub that provisions every participant.

``kvnb hub --participants 12`` starts the classroom server (:mod:`kvnb.classroom`) and a
JupyterHub in front of it. Each participant logs in to the hub with the user name and web password
from the hub's join sheet; the hub then starts a JupyterLab of their own whose kernels are already
logged in to their NATS account (``NATS_URL`` and ``NATS_NKEY_SEED`` from a ``pre_spawn_hook``),
in a folder holding their own copies of the learner notebooks (no solutions; an edited copy is never
replaced). The instructor logs in as ``instructor`` and lands on the instructor notebook.

Two logins, two secrets: the **web password** opens the hub (checked against a bcrypt hash by
:class:`JoinSheetAuthenticator`); the **nkey seed** logs the kernels in to NATS. Participants never
need to see their seed: the hub hands it to their server.

One-machine mode (what ``kvnb hub`` runs) starts every participant's server as a local process of
the same operating-system user, with a home folder each under the hub's temporary folder. That is
fine for a room of people you know; it is *not* isolation: any participant's code can read the
other homes and processes. For strangers, run JupyterHub with real users or containers (The
Littlest JupyterHub, Zero to JupyterHub: ``deploy/jupyterhub/``) with the same hook.

Example::

    hub = kvnb.hub.start_hub(participants=3, port=8000)   # returns once the hub answers
    print(hub.url, hub.sheet_path)                        # the join sheet: web logins, mode 0600
    hub.stop()                                            # hub, proxy, every user server, classroom

In another JupyterHub's config (TLJH, Z2JH ``hub.extraConfig``)::

    from kvnb.hub import classroom_hook, JoinSheetAuthenticator
    c.JupyterHub.authenticator_class = JoinSheetAuthenticator
    c.JoinSheetAuthenticator.state_file = "/srv/kvnb/hub-state.json"
    c.Spawner.pre_spawn_hook = classroom_hook("/srv/kvnb/hub-state.json", copy_notebooks=False)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _process
from .classroom import PARTICIPANTS_VAR, Classroom, _private_file, start_classroom
from .errors import InvalidOption, NotSupported

__all__ = [
    "INSTRUCTOR_NOTEBOOK", "STATE_VAR", "Hub", "HubState", "JoinSheetAuthenticator", "classroom_hook",  # noqa: F822
    "configure", "export_deployment", "find_proxy", "setup_shared_bucket", "start_hub",
]

STATE_VAR = "KVNB_HUB_STATE"  # the hub's config finds its state file (hashes, seeds, folders) here
USER_VAR = "KVNB_CLASSROOM_USER"  # a participant's kernel knows who it is (progress records)
INSTRUCTOR = "instructor"
INSTRUCTOR_NOTEBOOK = "instructor.ipynb"
BCRYPT_ROUNDS = 10  # ~60 ms a check on a small machine: slow to guess, fast enough for a room logging in at once
START_TIMEOUT = 90.0  # seconds for the hub to answer (a cold start on a busy 2-core machine)
STOP_GRACE = 20.0  # seconds the hub gets to stop its servers and proxy before SIGKILL
_DEFAULT_SHEET = Path.home() / ".kvnb" / "hub-join-sheet.txt"


# --- the state the hub's config reads -----------------------------------------------------------

@dataclass
class HubState:
    """What the hub needs about a classroom: written by :func:`start_hub`, read by the hub's config.

    ``users`` maps each user name to ``{"password_hash": bcrypt, "seed": nkey seed}``. The file
    holds secrets: it is written 0600 and removed when the hub stops.
    """

    nats_url: str
    participants: list[str]
    users: dict[str, dict[str, str]] = field(repr=False)
    homes: str = ""
    """``{username}`` template of each user's home (one-machine mode); empty: the spawner's own."""
    learner_dir: str = ""
    instructor_notebook: str = ""

    def env(self, user: str) -> dict[str, str]:
        """The environment a user's server (and so its kernels) gets: where NATS is and how to log in."""
        if user not in self.users:
            raise InvalidOption(f"{user!r} is not a user of this classroom (users: {', '.join(self.users)}). "
                                "Rule: only the join sheet's users get a server. Fix: log in as one of them.")
        env = {
            "NATS_URL": self.nats_url,
            "NATS_NKEY_SEED": self.users[user]["seed"],
            # Inboxes say whose they are: nothing depends on it, but it makes a server log readable.
            "NATS_INBOX_PREFIX": f"_INBOX_{user}",
            USER_VAR: user,
        }
        if user == INSTRUCTOR:
            env[PARTICIPANTS_VAR] = str(len(self.participants))
        return env

    def save(self, path: Path) -> Path:
        _private_file(path, json.dumps(self.__dict__, indent=1))
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> HubState:
        where = path or os.environ.get(STATE_VAR)
        if not where:
            raise InvalidOption(f"no classroom state file: set {STATE_VAR} or pass its path. "
                                "Fix: start the hub with `kvnb hub`, which writes it.")
        try:
            return cls(**json.loads(Path(where).read_text()))
        except (OSError, ValueError, TypeError) as err:
            raise InvalidOption(f"cannot read the classroom state file {where}: {err}. "
                                "Fix: start the hub with `kvnb hub`, which writes it.") from None


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash of a web password (what the state file keeps)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


def _web_password() -> str:
    return secrets.token_urlsafe(9)  # 12 characters, 72 bits: typed once from the sheet


def _state_for(room: Classroom, passwords: dict[str, str], *, homes: str = "", learner_dir: str = "",
               instructor_notebook: str = "") -> HubState:
    seats = [*room.participants, room.instructor]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:  # bcrypt releases the GIL
        hashes = dict(zip(passwords, pool.map(hash_password, passwords.values()), strict=True))
    users = {s.user: {"password_hash": hashes[s.user], "seed": s.seed} for s in seats}
    return HubState(nats_url=room.local_url, participants=room.users, users=users, homes=homes,
                    learner_dir=learner_dir, instructor_notebook=instructor_notebook)


# --- the JupyterHub side: authenticator, hook, spawner, config ------------------------------------

def _jupyterhub() -> Any:
    try:
        import jupyterhub.auth
        import jupyterhub.spawner
    except ImportError:
        raise NotSupported("the workshop hub needs JupyterHub, which is not installed. "
                           "Fix: pip install 'kvnb[hub]' (or make hub)") from None
    return jupyterhub


@functools.cache
def _authenticator_class() -> type:
    jh = _jupyterhub()
    from traitlets import Unicode, default

    class _JoinSheetAuthenticator(jh.auth.Authenticator):  # type: ignore[misc, name-defined]
        """Logs in the join sheet's users with their web passwords (bcrypt); refuses everyone else."""

        state_file = Unicode("", config=True, help=f"the classroom state file (default: ${STATE_VAR})")

        @default("allow_all")
        def _allow_all(self) -> bool:
            return True  # every user in the state file may log in; nobody else can authenticate

        @default("admin_users")
        def _admins(self) -> set[str]:
            return {INSTRUCTOR}

        def _hashes(self) -> dict[str, bytes]:
            if not hasattr(self, "_cached"):
                state = HubState.load(self.state_file or None)
                self._cached = {u: v["password_hash"].encode() for u, v in state.users.items()}
            return self._cached

        async def authenticate(self, handler: Any, data: dict[str, str]) -> str | None:
            import bcrypt

            name = str(data.get("username") or "").strip()
            password = str(data.get("password") or "").encode()
            hashes = self._hashes()
            # An unknown name is checked against some hash too: the answer takes as long, so timing
            # does not tell which names exist.
            known = hashes.get(name) or next(iter(hashes.values()))
            ok = await asyncio.to_thread(bcrypt.checkpw, password, known)
            if ok and name in hashes:
                return name
            self.log.warning("kvnb: refused a hub login for %r", name[:40])
            return None

    _JoinSheetAuthenticator.__name__ = "JoinSheetAuthenticator"
    _JoinSheetAuthenticator.__qualname__ = "JoinSheetAuthenticator"
    return _JoinSheetAuthenticator


def __getattr__(name: str) -> Any:
    # JupyterHub classes are made on first use: importing kvnb.hub must not need JupyterHub.
    if name == "JoinSheetAuthenticator":
        cls = _authenticator_class()
        globals()[name] = cls
        return cls
    if name == "LocalClassroomSpawner":
        cls = _spawner_class()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module 'kvnb.hub' has no attribute {name!r}")


def fill_home(state: HubState, user: str, home: Path) -> None:
    """Put ``user``'s notebooks into ``home``: the learner copies, and the instructor's notebook.

    A copy the user has edited is never replaced (:func:`kvnb.learner.fill_workspace`).
    """
    from .learner import fill_workspace

    home.mkdir(parents=True, exist_ok=True)
    if state.learner_dir:
        # The instructor's notebook is the instructor's: a participant running it would only start a demo.
        fill_workspace(state.learner_dir, home, skip=() if user == INSTRUCTOR else (INSTRUCTOR_NOTEBOOK,))
    if user == INSTRUCTOR and state.instructor_notebook:
        target = home / INSTRUCTOR_NOTEBOOK
        if not target.exists():
            shutil.copyfile(state.instructor_notebook, target)


def classroom_hook(state_file: str | os.PathLike[str] | None = None, *, copy_notebooks: bool = True,
                   home_template: str | None = None, learner_dir: str | None = None,
                   instructor_notebook: str | None = None) -> Callable[[Any], Awaitable[None]]:
    """A JupyterHub ``pre_spawn_hook``: the user's server gets its NATS login and its notebooks.

    It sets ``NATS_URL``, ``NATS_NKEY_SEED``, ``NATS_INBOX_PREFIX`` and ``KVNB_CLASSROOM_USER`` (the
    instructor also ``KVNB_CLASSROOM_PARTICIPANTS``) in ``spawner.environment``; with
    ``copy_notebooks`` it fills the user's home (``home_template``, else the state's, else the
    spawner's ``home_dir``) with the learner notebooks (``learner_dir``, else the state's) and the
    instructor's (``instructor_notebook``, else the state's); the instructor lands on it.
    """
    path = state_file

    async def pre_spawn_hook(spawner: Any) -> None:
        state = HubState.load(path)
        state.learner_dir = learner_dir or state.learner_dir
        state.instructor_notebook = instructor_notebook or state.instructor_notebook
        user = spawner.user.name
        env = state.env(user)  # raises for a user the classroom does not know: no server for them
        spawner.environment = {**(spawner.environment or {}), **env}  # a new dict: config values are shared
        if copy_notebooks:
            template = home_template or state.homes
            home = Path(template.format(username=user)) if template else Path(spawner.home_dir)
            await asyncio.to_thread(fill_home, state, user, home)
        spawner.default_url = f"/lab/tree/{INSTRUCTOR_NOTEBOOK}" if user == INSTRUCTOR else "/lab"

    return pre_spawn_hook


@functools.cache
def _spawner_class() -> type:
    jh = _jupyterhub()
    from traitlets import default

    class _LocalClassroomSpawner(jh.spawner.SimpleLocalProcessSpawner):  # type: ignore[misc, name-defined]
        """One process per user, all as this OS user, each in a home of its own; they die with the hub."""

        @default("home_dir_template")
        def _template(self) -> str:
            return HubState.load().homes

        def make_preexec_fn(self, name: str) -> Callable[[], None]:
            inner = super().make_preexec_fn(name)

            def preexec() -> None:
                inner()
                _process._die_with_parent()  # a hub killed with SIGKILL takes its users' servers along

            return preexec

    _LocalClassroomSpawner.__name__ = "LocalClassroomSpawner"
    return _LocalClassroomSpawner


def find_proxy() -> Path:
    """The ``configurable-http-proxy`` executable: the project's (``make hub`` installs it), else PATH."""
    here = Path(sys.prefix) / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if here.exists():
        return here
    found = shutil.which("configurable-http-proxy")
    if found:
        return Path(found)
    raise NotSupported(
        "JupyterHub's proxy, configurable-http-proxy (an npm package), is not installed. "
        f"Fix: make hub (installs it into {Path(sys.prefix) / 'node'}), or "
        f"npm install --prefix {Path(sys.prefix) / 'node'} configurable-http-proxy (needs Node.js)."
    )


# Runs a command tied to its parent's life: PR_SET_PDEATHSIG survives execve, so the proxy JupyterHub starts
# gets SIGKILL when JupyterHub dies, even by SIGKILL (JupyterHub itself would leave it running, port and all).
_TIED = ("import ctypes, ctypes.util, os, signal, sys; "
         "ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').prctl(1, signal.SIGKILL, 0, 0, 0); "
         "os.execv(sys.argv[1], sys.argv[1:])")


def configure(c: Any, state_file: str | os.PathLike[str] | None = None) -> None:
    """Fill a JupyterHub config ``c`` for one-machine mode (what ``kvnb hub`` runs).

    Addresses, ports and folders come from ``KVNB_HUB_*`` variables that :func:`start_hub` sets.
    """
    state_path = str(state_file or os.environ[STATE_VAR])
    work = Path(os.environ["KVNB_HUB_WORK"])
    env = os.environ
    c.JupyterHub.ip = env.get("KVNB_HUB_IP", "127.0.0.1")
    c.JupyterHub.port = int(env.get("KVNB_HUB_PORT", "8000"))
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = int(env["KVNB_HUB_INTERNAL_PORT"])
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env['KVNB_HUB_PROXY_API_PORT']}"
    proxy = str(find_proxy())
    c.ConfigurableHTTPProxy.command = [sys.executable, "-c", _TIED, proxy] if sys.platform.startswith("linux") \
        else [proxy]
    c.ConfigurableHTTPProxy.pid_file = str(work / "proxy.pid")
    c.JupyterHub.db_url = f"sqlite:///{work / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(work / "cookie_secret")
    c.JupyterHub.pid_file = str(work / "jupyterhub.pid")
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True
    c.JupyterHub.authenticator_class = _authenticator_class()
    c.JoinSheetAuthenticator.state_file = state_path
    c.JupyterHub.spawner_class = _spawner_class()
    c.Spawner.pre_spawn_hook = classroom_hook(state_path)
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    # JupyterLab refuses to run as root unless told; containers and CI machines often are root.
    as_root = ["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    c.Spawner.args = [*as_root, *json.loads(env.get("KVNB_HUB_SINGLEUSER_ARGS", "[]"))]
    c.Spawner.default_url = "/lab"
    c.Spawner.start_timeout = 120  # a room logging in at once on a small machine
    c.Spawner.http_timeout = 120


# --- a hub elsewhere (TLJH, Zero to JupyterHub): the files it needs -------------------------------

def export_deployment(participants: int, out_dir: str | os.PathLike[str], *, nats_url: str,
                      limits: Any = None) -> dict[str, Path]:
    """Write what a hub on another machine needs, into ``out_dir`` (0700; every file 0600).

    - ``accounts.conf``: the classroom's accounts block (nkey public keys only) for the NATS servers
      (``deploy/jupyterhub/z2jh/nats-values.yaml`` includes it);
    - ``hub-state.json``: web password hashes and nkey seeds, for the hub (a Kubernetes secret);
    - ``join-sheet.txt``: every user's web password, for the instructor.

    Once NATS runs with those accounts, :func:`setup_shared_bucket` makes the shared bucket.
    """
    from .classroom import _seats, classroom_config

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    seats, instructor = _seats(participants)
    text = classroom_config(seats, instructor, limits=limits)
    accounts = text[text.index("accounts {"):]
    passwords = {s.user: _web_password() for s in [*seats, instructor]}
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        hashes = dict(zip(passwords, pool.map(hash_password, passwords.values()), strict=True))
    state = HubState(nats_url=nats_url, participants=[s.user for s in seats],
                     users={s.user: {"password_hash": hashes[s.user], "seed": s.seed} for s in [*seats, instructor]})
    files = {"accounts": out / "accounts.conf", "state": out / "hub-state.json", "sheet": out / "join-sheet.txt"}
    _private_file(files["accounts"], "# kvnb classroom accounts: nkey public keys only\n" + accounts)
    state.save(files["state"])
    _private_file(files["sheet"], "\n".join(f"{u:<12} {p}" for u, p in passwords.items()) + "\n")
    return files


async def setup_shared_bucket(state: HubState, *, history: int = 10) -> None:
    """Make the shared bucket ``class`` and each participant's read-only copy, logged in as the instructor."""
    from nats.js import api

    from .classroom import SHARED_BUCKET, SHARED_MAX_BYTES, _copy_config, participant_js_prefix
    from .client import close_connection, connect

    nc = await connect(state.nats_url, nkeys_seed_str=state.users[INSTRUCTOR]["seed"], name="kvnb-setup")
    try:
        for user in state.participants:  # the copies first: then they hold every message the bucket ever had
            js = nc.jetstream(prefix=participant_js_prefix(user))
            try:
                await js.stream_info(f"KV_{SHARED_BUCKET}")
            except Exception:
                await js.add_stream(_copy_config(history))
        await nc.jetstream().create_key_value(api.KeyValueConfig(bucket=SHARED_BUCKET, history=history,
                                                                 max_bytes=SHARED_MAX_BYTES, direct=True))
    finally:
        await close_connection(nc)


# --- running it all on one machine ------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc): what must be gone once the hub has stopped."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat_text = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat_text.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat_text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat_text.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Hub:
    """A running workshop: the classroom server and JupyterHub. Made by :func:`start_hub`."""

    room: Classroom
    process: Any
    url: str
    work_dir: Path
    state: HubState = field(repr=False)
    passwords: dict[str, str] = field(repr=False)
    sheet_path: Path | None = None

    @property
    def homes(self) -> Path:
        """The folder holding each user's home (one-machine mode)."""
        return Path(self.state.homes).parent

    def home(self, user: str) -> Path:
        return Path(self.state.homes.format(username=user))

    @property
    def log_path(self) -> Path:
        return self.work_dir / "jupyterhub.log"

    @property
    def is_running(self) -> bool:
        return bool(self.process.poll() is None and self.room.is_running)

    def processes(self) -> list[int]:
        """The pids of the hub, its proxy, the users' servers and their kernels."""
        return [self.process.pid, *_descendants(self.process.pid)] if self.process.poll() is None else []

    def stop(self) -> None:
        """Stop the hub (it stops the proxy and every user's server), then the classroom; remove every file.

        Whatever is still running below the hub after :data:`STOP_GRACE` seconds is killed.
        """
        below = _descendants(self.process.pid) if self.process.poll() is None else []
        below += self._orphaned_proxy()
        _process.terminate(self.process, grace=STOP_GRACE)
        deadline = time.monotonic() + 5
        left = [p for p in below if _alive(p)]
        for pid in left:
            with _suppress():
                os.kill(pid, signal.SIGTERM)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = [p for p in left if _alive(p)]
        for pid in left:
            with _suppress():
                os.kill(pid, signal.SIGKILL)
        self.room.stop()
        if self.sheet_path is not None:
            self.sheet_path.unlink(missing_ok=True)
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def _orphaned_proxy(self) -> list[int]:
        """The proxy's pid when the hub died before it could stop it (its pid file is in the work folder)."""
        try:
            pid = int((self.work_dir / "proxy.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return []
        return [pid] if b"configurable-http-proxy" in cmdline else []

    def sheet(self) -> str:
        """The hub's join sheet: where to go and every user's web login (keep it private)."""
        out = ["kvnb workshop hub — join sheet (keep it private: each password opens that user's notebooks)",
               f"Open {self.url} and log in with your user name and password:", ""]
        out += [f"  {user:<12} {self.passwords[user]}" for user in [*self.room.users, INSTRUCTOR]]
        out += ["", "The instructor lands on the instructor notebook with the live progress board.",
                "These passwords work for this run of the hub only; the sheet is removed when it stops."]
        return "\n".join(out) + "\n"

    def __enter__(self) -> Hub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _suppress:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: object, tb: object) -> bool:
        return isinstance(err, ProcessLookupError | PermissionError)


def _check_port(host: str, port: int) -> None:
    """Fail before starting anything when the hub's port is taken (JupyterHub would say so only in its log)."""
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidOption(f"port must be an int from 1 to 65535, got {port!r}. Example: kvnb hub -n 12 --port 8000")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError as err:
            raise InvalidOption(f"the hub cannot listen on {host}:{port}: {err.strerror or err}. "
                                f"Fix: pick a free port (--port {port + 1}) or stop what uses it.") from None


def _wait_ready(proc: Any, url: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise NotSupported(f"JupyterHub exited at start (code {proc.returncode}); its log:\n"
                               f"{_process.tail(log, 25)}")
        try:
            with urllib.request.urlopen(f"{url}hub/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"JupyterHub did not answer at {url} within {timeout:.0f} s; its log:\n"
                       f"{_process.tail(log, 25)}")


def start_hub(participants: int, *, port: int = 8000, host: str = "127.0.0.1",
              sheet: str | os.PathLike[str] | None = None, learner_dir: str | os.PathLike[str] | None = None,
              instructor_notebook: str | os.PathLike[str] | None = None, homes: str | os.PathLike[str] | None = None,
              singleuser_args: Sequence[str] = (), timeout: float = START_TIMEOUT) -> Hub:
    """Start the classroom server and a JupyterHub in front of it on ``host:port``; return once it answers.

    ``learner_dir`` (default ``./learner``) holds the learner notebooks each participant gets;
    ``instructor_notebook`` (default ``./notebooks/instructor.ipynb``) is where the instructor lands.
    ``sheet``: where to write the join sheet (web logins, 0600); None writes none.
    ``homes``: the folder holding every user's home, kept when the hub stops (their notebooks survive
    to the next run, where an edited copy is never replaced); default: a temporary folder, removed.
    ``singleuser_args`` go to every user's JupyterLab.
    """
    _jupyterhub()
    proxy = find_proxy()
    _check_port(host, port)
    learner = Path(learner_dir) if learner_dir is not None else Path.cwd() / "learner"
    instructor_nb = Path(instructor_notebook) if instructor_notebook is not None \
        else Path.cwd() / "notebooks" / INSTRUCTOR_NOTEBOOK
    if not learner.is_dir():
        raise InvalidOption(f"no learner notebooks in {learner}. Fix: run `kvnb hub` from the kvnb repository "
                            "(it has learner/), or pass --learner DIR.")
    if not instructor_nb.is_file():
        raise InvalidOption(f"no instructor notebook at {instructor_nb}. Fix: run from the kvnb repository, "
                            "or pass --instructor-notebook FILE.")
    work = _process.temp_dir("hub")
    room: Classroom | None = None
    proc = None
    try:
        room = start_classroom(participants)  # NATS stays on loopback: only the hub's servers connect to it
        passwords = {u: _web_password() for u in [*room.users, INSTRUCTOR]}
        home_root = Path(homes).expanduser().resolve() if homes is not None else work / "homes"
        home_root.mkdir(mode=0o700, parents=True, exist_ok=True)
        state = _state_for(room, passwords, homes=str(home_root / "{username}"), learner_dir=str(learner.resolve()),
                           instructor_notebook=str(instructor_nb.resolve()))
        state_file = state.save(work / "hub-state.json")
        config = work / "jupyterhub_config.py"
        config.write_text("from kvnb.hub import configure\n\nconfigure(c)  # noqa: F821 - JupyterHub defines c\n")
        bin_dirs = [str(Path(sys.executable).parent), str(proxy.parent)]
        env = {
            **os.environ,
            "PATH": os.pathsep.join([*bin_dirs, os.environ.get("PATH", "")]),
            STATE_VAR: str(state_file), "KVNB_HUB_WORK": str(work), "KVNB_HUB_IP": host, "KVNB_HUB_PORT": str(port),
            "KVNB_HUB_INTERNAL_PORT": str(_free_port()), "KVNB_HUB_PROXY_API_PORT": str(_free_port()),
            "KVNB_HUB_SINGLEUSER_ARGS": json.dumps(list(singleuser_args)),
        }
        # The hub itself must not log in anywhere: the users' servers get their own NATS settings.
        for var in ("NATS_URL", "NATS_USER", "NATS_PASSWORD", "NATS_NKEY", "NATS_NKEY_SEED", "NATS_CREDS",
                    "NATS_CONTEXT", PARTICIPANTS_VAR):
            env.pop(var, None)
        log = work / "jupyterhub.log"
        proc = _process.spawn([sys.executable, "-m", "jupyterhub", "-f", str(config)], log_path=log, cwd=work,
                              env=env)
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        url = f"http://{shown}:{port}/"
        _wait_ready(proc, url, log, timeout)
        hub = Hub(room=room, process=proc, url=url, work_dir=work, state=state, passwords=passwords)
        if sheet is not None:
            target = Path(sheet).expanduser()
            target.parent.mkdir(parents=True, exist_ok=True)
            _private_file(target, hub.sheet())
            hub.sheet_path = target
        return hub
    except BaseException:
        if proc is not None:
            below = _descendants(proc.pid)
            _process.terminate(proc, grace=STOP_GRACE)
            for pid in below:
                with _suppress():
                    os.kill(pid, signal.SIGKILL)
        if room is not None:
            room.stop()
        shutil.rmtree(work, ignore_errors=True)
        raise


def main(argv: list[str] | None = None) -> int:
    """``python -m kvnb.hub shared-bucket STATE_FILE``: make the shared bucket on a deployed NATS."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m kvnb.hub")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("shared-bucket", help="create the shared bucket and every participant's copy (once)")
    p.add_argument("state_file", help="the hub-state.json that `kvnb hub --export` wrote")
    args = parser.parse_args(argv)
    asyncio.run(setup_shared_bucket(HubState.load(args.state_file)))
    print("kvnb: shared bucket 'class' and every participant's copy are ready.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
