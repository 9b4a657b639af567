"""Classroom mode: one nats-server, an isolated JetStream account per participant, a shared bucket.

Accounts, not subject permissions, keep participants apart (see the design notes): inside one
account a participant could mirror another's bucket or read its replies. Here

- participant ``pN`` logs in to account ``PN``: its own JetStream (limited), its own buckets;
- account ``CLASS`` holds the shared bucket ``class`` and the ``instructor`` user. It exports the
  read-only JetStream API of ``KV_class`` (info, get, direct get, watch consumers) and every
  participant imports it under ``$JS.class.API``; watch deliveries reach a participant through
  its own inbox prefix ``_INBOX_pN`` (exported by CLASS to that participant's account only);
- every participant account exports its JetStream API to CLASS only, imported as ``$JS.pN.API``:
  the instructor sees (and could repair) every participant's buckets.

Passwords are generated at start and stored in the server config only as bcrypt hashes; the
join sheet with the clear passwords is written with 0600 permissions.

Example::

    room = kvnb.classroom.start_classroom(participants=12)
    print(room.sheet())                  # URL, users, passwords, env vars per participant
    nc = await room.connect("p1")        # log in as a participant (or "instructor")
    shared = await kvnb.classroom.open_shared_bucket(nc)
    room.stop()

From a shell: ``kvnb classroom --participants 12``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _process
from .errors import InvalidOption, NotSupported, ServerError
from .server import HOST, Server, launch

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from .bucket import KV

__all__ = [
    "CLASS_ACCOUNT", "CLASS_JS_PREFIX", "SHARED_BUCKET", "Classroom", "Seat", "classroom_config",
    "open_shared_bucket", "participant_js_prefix", "start_classroom",
]

CLASS_ACCOUNT = "CLASS"
SHARED_BUCKET = "class"
CLASS_JS_PREFIX = "$JS.class.API"
INSTRUCTOR_INBOX = "_INBOX_class"
PARTICIPANTS_VAR = "KVNB_CLASSROOM_PARTICIPANTS"
MAX_PARTICIPANTS = 200
_STAMP = re.compile(r"^(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")
# Per-participant JetStream limits: enough for every notebook, small enough for a laptop running 30.
PARTICIPANT_LIMITS = {"max_memory": "64M", "max_file": "256M", "max_streams": 32, "max_consumers": 256}
# Read-only JetStream API of the shared bucket's stream, as exported by CLASS.
_SHARED_API = (
    "STREAM.INFO.KV_class",
    "STREAM.MSG.GET.KV_class",
    "DIRECT.GET.KV_class",
    "DIRECT.GET.KV_class.>",
    "CONSUMER.CREATE.KV_class",
    "CONSUMER.CREATE.KV_class.>",
    "CONSUMER.INFO.KV_class.*",
    "CONSUMER.DELETE.KV_class.*",
)


@dataclass(frozen=True)
class Seat:
    """One login: a participant (``p1``...) or the instructor."""

    user: str
    password: str = field(repr=False)
    account: str
    inbox_prefix: str

    @property
    def is_instructor(self) -> bool:
        return self.account == CLASS_ACCOUNT


def participant_js_prefix(user: str) -> str:
    """The JetStream API prefix under which the instructor reaches participant ``user``'s buckets."""
    return f"$JS.{user}.API"


def _bcrypt(password: str) -> str:
    try:
        import bcrypt
    except ImportError:  # pragma: no cover - a declared dependency
        raise NotSupported("classroom mode hashes passwords with bcrypt, which is not installed. "
                           "Fix: pip install bcrypt") from None
    # nats-server understands the $2a$ prefix; cost 11 is its own `nats server passwd` default.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=11, prefix=b"2a")).decode()
    return hashed


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid nats-server config string


def classroom_config(participants: list[Seat], instructor: Seat, *, hashed: dict[str, str] | None = None,
                     progress: Callable[[int, int], None] | None = None) -> str:
    """The nats-server configuration text (accounts, users, exports, imports) for a classroom.

    ``hashed`` maps user -> bcrypt hash; hashes are computed when it is not given (~0.1 s each,
    ``progress(done, total)`` is called after each). The text holds no clear password.
    """
    hashed = dict(hashed or {})
    seats = [*participants, instructor]
    for done, seat in enumerate(seats, 1):
        if seat.user not in hashed:
            hashed[seat.user] = _bcrypt(seat.password)
        if progress is not None:
            progress(done, len(seats))
    limits = ", ".join(f"{k}: {v}" for k, v in PARTICIPANT_LIMITS.items())
    lines = ["# kvnb classroom: generated at start; passwords are bcrypt hashes.", "accounts {"]
    everyone = ", ".join(p.account for p in participants)
    class_exports = [f"    {{ service: {_q('$JS.API.' + s)}, accounts: [{everyone}] }}" for s in _SHARED_API]
    class_exports.append(f"    {{ service: {_q('$JS.FC.KV_class.>')}, accounts: [{everyone}] }}")
    class_exports += [f"    {{ stream: {_q(p.inbox_prefix + '.>')}, accounts: [{p.account}] }}" for p in participants]
    class_imports = []
    for p in participants:
        class_imports.append(f"    {{ service: {{ account: {p.account}, subject: {_q('$JS.API.>')} }}, "
                             f"to: {_q(participant_js_prefix(p.user) + '.>')} }}")
        class_imports.append(f"    {{ stream: {{ account: {p.account}, subject: {_q(INSTRUCTOR_INBOX + '.>')} }} }}")
    lines += [
        f"  {CLASS_ACCOUNT} {{",
        "    # the shared bucket; cap consumers so many watching participants cannot exhaust it",
        "    jetstream: { max_memory: 64M, max_file: 512M, max_streams: 8, max_consumers: 1024 }",
        f"    users: [ {{ user: {_q(instructor.user)}, password: {_q(hashed[instructor.user])} }} ]",
        "    exports: [",
        *class_exports,
        "    ]",
        "    imports: [",
        *class_imports,
        "    ]",
        "  }",
    ]
    for p in participants:
        imports = [f"      {{ service: {{ account: {CLASS_ACCOUNT}, subject: {_q('$JS.API.' + s)} }}, "
                   f"to: {_q(CLASS_JS_PREFIX + '.' + s)} }}" for s in _SHARED_API]
        imports.append(f"      {{ service: {{ account: {CLASS_ACCOUNT}, subject: {_q('$JS.FC.KV_class.>')} }} }}")
        imports.append(f"      {{ stream: {{ account: {CLASS_ACCOUNT}, subject: {_q(p.inbox_prefix + '.>')} }} }}")
        lines += [
            f"  {p.account} {{",
            f"    jetstream: {{ {limits} }}",
            f"    users: [ {{ user: {_q(p.user)}, password: {_q(hashed[p.user])},",
            # Only the instructor's watches may land in the instructor's inbox subjects.
            f"      permissions: {{ publish: {{ deny: [{_q(INSTRUCTOR_INBOX + '.>')}] }} }} }} ]",
            "    exports: [",
            f"      {{ service: {_q('$JS.API.>')}, accounts: [{CLASS_ACCOUNT}] }}",
            f"      {{ stream: {_q(INSTRUCTOR_INBOX + '.>')}, accounts: [{CLASS_ACCOUNT}] }}",
            "    ]",
            "    imports: [",
            *imports,
            "    ]",
            "  }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def _seats(n: int) -> tuple[list[Seat], Seat]:
    participants = [Seat(user=f"p{i}", password=secrets.token_urlsafe(12), account=f"P{i}",
                         inbox_prefix=f"_INBOX_p{i}") for i in range(1, n + 1)]
    instructor = Seat(user="instructor", password=secrets.token_urlsafe(16), account=CLASS_ACCOUNT,
                      inbox_prefix=INSTRUCTOR_INBOX)
    return participants, instructor


def _lan_address() -> str:
    """This machine's address on its LAN (no packet is sent: a UDP connect only picks a route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, used only to choose a source address
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()


class Classroom:
    """A running classroom server. Made by :func:`start_classroom`; ``with`` stops it."""

    def __init__(self, server: Server, participants: list[Seat], instructor: Seat, *, host: str,
                 config_path: Path, work_dir: Path) -> None:
        self.server = server
        self.participants = participants
        self.instructor = instructor
        self.host = host
        self.config_path = config_path
        self.work_dir = work_dir

    @property
    def url(self) -> str:
        """The URL participants use (the LAN address when the server listens beyond loopback)."""
        if self.host in ("127.0.0.1", "localhost", "::1"):
            return self.server.url
        shown = _lan_address() if self.host in ("0.0.0.0", "::") else self.host
        return f"nats://{shown}:{self.server.port}"

    @property
    def local_url(self) -> str:
        """The URL that reaches the server from this machine."""
        if self.host in ("0.0.0.0", "::", "localhost"):
            return self.server.url
        return f"nats://{self.host}:{self.server.port}"

    def seat(self, user: str) -> Seat:
        """The seat of ``user`` (``"p1"``..., or ``"instructor"``)."""
        for seat in [*self.participants, self.instructor]:
            if seat.user == user:
                return seat
        raise InvalidOption(f"no classroom user {user!r}; users are p1..p{len(self.participants)} and instructor.")

    def env(self, user: str) -> dict[str, str]:
        """The environment variables a kernel needs to work as ``user`` (kvnb and the nats CLI read them)."""
        seat = self.seat(user)
        env = {"NATS_URL": self.url, "NATS_USER": seat.user, "NATS_PASSWORD": seat.password,
               "NATS_INBOX_PREFIX": seat.inbox_prefix}
        if seat.is_instructor:  # the instructor notebook lists p1..pN from it
            env[PARTICIPANTS_VAR] = str(len(self.participants))
        return env

    async def connect(self, user: str, **options: Any) -> NATS:
        """Log in as ``user`` (with its inbox prefix): a participant or the instructor."""
        from .client import connect

        seat = self.seat(user)
        return await connect(self.local_url, user=seat.user, password=seat.password,
                             inbox_prefix=seat.inbox_prefix, name=f"kvnb-{seat.user}", **options)

    def sheet(self) -> str:
        """The join sheet: URL, every login, and the environment variables for each participant's kernel."""
        out = [
            "kvnb classroom — join sheet (keep it private: it holds passwords)",
            f"Server: {self.url}",
            "",
            "Each participant: set these variables before starting JupyterLab (or in the kernel's environment),",
            "then the notebooks use your own account. Your buckets are yours alone; the shared bucket",
            f"'{SHARED_BUCKET}' is read-only for you: kvnb.classroom.open_shared_bucket() opens it.",
            "",
        ]
        for seat in self.participants:
            env = self.env(seat.user)
            out.append(f"[{seat.user}] password {seat.password}")
            out += [f"  export {k}={v}" for k, v in env.items()]
            out.append("")
        out += [f"[instructor] password {self.instructor.password}",
                *[f"  export {k}={v}" for k, v in self.env(self.instructor.user).items()],
                "  open notebooks/instructor.ipynb to watch every participant live.", ""]
        return "\n".join(out)

    def write_sheet(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`sheet` to ``path`` readable by its owner only (0600); returns the path."""
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        # Create with 0600 from the start: no moment where others could read it.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
        with os.fdopen(fd, "w") as f:
            f.write(self.sheet())
        os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
        return target

    def stop(self) -> None:
        """Stop the server; its generated config (password hashes) is removed."""
        self.server.stop()
        self.config_path.unlink(missing_ok=True)

    @property
    def is_running(self) -> bool:
        return self.server.is_running

    def __enter__(self) -> Classroom:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<kvnb.Classroom {self.url} {len(self.participants)} participants, {state}>"


def start_classroom(participants: int, *, host: str = HOST, port: int | None = None,
                    store_dir: str | os.PathLike[str] | None = None, shared_history: int = 10,
                    progress: Callable[[int, int], None] | None = None) -> Classroom:
    """Start a classroom server with ``participants`` users (p1..pN) and an instructor.

    It listens on 127.0.0.1 unless ``host`` says otherwise (``"0.0.0.0"`` exposes it on every
    network the machine is on: only in a room you trust). The shared bucket ``class`` is created
    (history ``shared_history``); only the instructor can write it.
    """
    if isinstance(participants, bool) or not isinstance(participants, int) or not 1 <= participants <= MAX_PARTICIPANTS:
        raise InvalidOption(f"participants must be an int from 1 to {MAX_PARTICIPANTS}, got {participants!r}. "
                            "Example: kvnb classroom --participants 12")
    if not isinstance(host, str) or not host:
        raise InvalidOption(f"host must be an address like '127.0.0.1' or '0.0.0.0', got {host!r}.")
    seats, instructor = _seats(participants)
    work = _process.temp_dir("classroom")
    config_path = work / "classroom.conf"
    fd = os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(classroom_config(seats, instructor, progress=progress))
    extra = [] if host == HOST else ["--addr", host]  # kvnb's launch binds 127.0.0.1; the last --addr wins
    server = launch(config_file=config_path, port=port, store_dir=store_dir, name="kvnb-classroom", extra_args=extra)
    room = Classroom(server, seats, instructor, host=host, config_path=config_path, work_dir=work)
    try:
        # A private loop in a thread of its own: this works from a script and inside a notebook,
        # whose loop is already running (asyncio.run() would refuse there).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _create_shared_bucket(room, shared_history)).result()
    except BaseException:
        room.stop()
        raise
    return room


async def _create_shared_bucket(room: Classroom, history: int) -> None:
    from .bucket import open_bucket

    nc = await room.connect(room.instructor.user)
    try:
        await open_bucket(SHARED_BUCKET, history=history, nc=nc)
    finally:
        await nc.close()


async def open_shared_bucket(nc: NATS | None = None, *, instructor: bool = False) -> KV:
    """Open the classroom's shared bucket: read-only through the CLASS exports for a participant,
    read-write for the instructor (``instructor=True``, whose account holds it)."""
    from .bucket import open_bucket
    from .client import default_connection

    conn = nc if nc is not None else await default_connection()
    return await open_bucket(SHARED_BUCKET, nc=conn, js_prefix="$JS.API" if instructor else CLASS_JS_PREFIX)


# --- the instructor's live view ---------------------------------------------------------------------

@dataclass
class BucketActivity:
    """One participant bucket as the instructor sees it."""

    participant: str
    bucket: str
    values: int
    last_revision: int
    last_write: float | None  # seconds since the epoch


async def participant_buckets(nc: NATS, user: str, *, timeout: float = 1.0) -> list[BucketActivity]:
    """Every KV bucket of participant ``user`` (instructor connection), with its size and last write."""
    # The raw STREAM.LIST answer carries each stream's last write time, which nats-py's StreamState drops.
    found: list[BucketActivity] = []
    offset = 0
    while True:
        msg = await nc.request(f"{participant_js_prefix(user)}.STREAM.LIST",
                               json.dumps({"offset": offset, "subject": "$KV.>"}).encode(), timeout=timeout)
        body = json.loads(msg.data or b"{}")
        if "error" in body:
            raise ServerError(f"listing {user}'s buckets: {body['error'].get('description', body['error'])}")
        streams = body.get("streams") or []
        for info in streams:
            name = info.get("config", {}).get("name", "")
            if not name.startswith("KV_"):
                continue
            state = info.get("state", {})
            found.append(BucketActivity(user, name[3:], int(state.get("messages", 0)), int(state.get("last_seq", 0)),
                                        _epoch(state.get("last_ts"))))
        offset += len(streams)
        if not streams or offset >= int(body.get("total", 0)):
            return sorted(found, key=lambda a: a.bucket)


def _epoch(stamp: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time with nanoseconds, as nats-server writes it."""
    found = _STAMP.match(stamp or "")
    if found is None or found["date"].startswith("0001-"):  # Go's zero time: never written
        return None
    zone = "+00:00" if found["zone"] == "Z" else found["zone"]
    return datetime.fromisoformat(f"{found['date']}.{(found['frac'] or '0')[:6]}{zone}").timestamp()


def render_activity(rows: dict[str, list[BucketActivity] | str], *, now: float | None = None) -> str:
    """HTML for the instructor board: one row per participant; a str value is an error shown inline."""
    now = time.time() if now is None else now
    out = ["<table class='kvnb-classroom'><tr><th>participant</th><th>bucket</th><th>values</th>"
           "<th>last revision</th><th>last write</th></tr>"]
    for user, items in rows.items():
        if isinstance(items, str):
            out.append(f"<tr><td>{html.escape(user)}</td>"
                       f"<td colspan='4' style='color:#b00'>{html.escape(items)}</td></tr>")
            continue
        if not items:
            out.append(f"<tr><td>{html.escape(user)}</td><td colspan='4' style='color:#888'>no bucket yet</td></tr>")
        for a in items:
            ago = "never" if a.last_write is None else f"{max(0.0, now - a.last_write):.0f} s ago"
            out.append(f"<tr><td>{html.escape(user)}</td><td>{html.escape(a.bucket)}</td><td>{a.values}</td>"
                       f"<td>{a.last_revision}</td><td>{ago}</td></tr>")
    out.append("</table>")
    return "".join(out)


class ActivityBoard:
    """A live table of every participant's buckets (polled about once a second), for the instructor.

    ``board = ActivityBoard(nc, users)``; display ``board.widget`` (or the board itself), then
    ``board.start()``; ``await board.stop()`` ends polling.
    """

    def __init__(self, nc: NATS, users: list[str], *, interval: float = 1.0, timeout: float = 0.8) -> None:
        import ipywidgets

        self.nc = nc
        self.users = list(users)
        self.interval = interval
        self.timeout = timeout
        self.widget = ipywidgets.HTML(value="<i>waiting for the first poll…</i>")
        self.last: dict[str, list[BucketActivity] | str] = {}
        self._task: asyncio.Task[None] | None = None

    async def refresh(self) -> dict[str, list[BucketActivity] | str]:
        """Poll every participant once; errors are kept per participant and shown inline."""
        async def one(user: str) -> list[BucketActivity] | str:
            try:
                return await participant_buckets(self.nc, user, timeout=self.timeout)
            except Exception as err:
                return f"{type(err).__name__}: {err or 'no answer'}"

        results = await asyncio.gather(*(one(u) for u in self.users))
        self.last = dict(zip(self.users, results, strict=True))
        html_text = render_activity(self.last)
        if html_text != self.widget.value:  # send only what changed
            self.widget.value = html_text
        return self.last

    def start(self) -> ActivityBoard:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            await self.refresh()
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)
