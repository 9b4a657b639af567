"""Classroom mode: one nats-server, an isolated JetStream account per participant, a shared bucket.

Accounts, not subject permissions, keep participants apart (see the design notes): inside one
account a participant could mirror another's bucket or read its replies. Here

- participant ``pN`` logs in to account ``PN`` with an nkey (a seed of its own, checked by an
  ed25519 signature: a wrong login costs microseconds and blocks nobody). ``PN`` has its own
  JetStream with limits (:func:`participant_limits`) and its own buckets;
- account ``CLASS`` holds the shared bucket ``class`` and the ``instructor`` user. Each participant
  reads it through a **copy in its own account** (a stream ``KV_class``, made at start by the
  instructor): CLASS exports the messages written to the bucket (``$KV.class.>``) as a stream to
  every participant account, and the copy stores them as they arrive (``no_ack``: only CLASS's
  stream answers the instructor). A participant account imports nothing else from CLASS: it never
  reaches CLASS's JetStream API, so it can neither create, delete nor exhaust consumers on the
  shared stream, nor make the server create any there (a mirror or source of CLASS's stream has
  no way in);
- every participant account exports its JetStream API to CLASS only, imported as ``$JS.pN.API``,
  and the deliveries of the instructor's watches on ``_DLV_pN.>``: a consumer in ``P1`` can only
  ever deliver under ``_DLV_p1``, so nothing ``p1`` does can appear in the instructor's view of
  ``p2``. The instructor's watches use random deliver subjects and accept only messages of the
  consumer they made (:func:`kvnb.watch.route_deliveries`, :func:`prepare_instructor`);
- participants may not subscribe to ``$JS.API.>`` in their own account: they cannot see, nor
  answer, the requests the instructor sends there.

The config holds only public keys; the seeds are on the join sheet (written 0600, never printed).
The server's log is capped (rotated at 10 MB, 3 files kept). ``stop()`` removes every file the
classroom wrote: config, store (unless you gave ``store_dir``), log, join sheet and seed files.

Example::

    room = kvnb.classroom.start_classroom(participants=12)
    room.write_sheet("~/.kvnb/join-sheet.txt")   # URL, seeds and env vars per participant (0600)
    nc = await room.connect("p1")                 # log in as a participant (or "instructor")
    shared = await kvnb.classroom.open_shared_bucket(nc)
    room.stop()

From a shell: ``kvnb classroom --participants 12``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import logging
import os
import re
import secrets
import shutil
import socket
import stat
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _process
from .errors import InvalidOption, NotSupported, ServerError
from .server import HOST, Server, launch
from .widgets import _html
from .widgets._frozen import FrozenPicture

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS

    from .bucket import KV

__all__ = [
    "CLASS_ACCOUNT", "SHARED_BUCKET", "Classroom", "Limits", "Seat", "classroom_config", "deliver_prefix",
    "open_shared_bucket", "participant_js_prefix", "participant_limits", "prepare_instructor", "remove_source_floods",
    "start_classroom",
]

log = logging.getLogger("kvnb.classroom")

CLASS_ACCOUNT = "CLASS"
SHARED_BUCKET = "class"
PARTICIPANTS_VAR = "KVNB_CLASSROOM_PARTICIPANTS"
MAX_PARTICIPANTS = 200
MiB = 1 << 20
SHARED_MAX_BYTES = 8 * MiB  # the shared bucket (each participant's copy may hold 1 MiB more: never less than it)
LOG_LIMIT = 10 * MiB  # the server log rotates at this size ...
LOG_FILES = 3  # ... and keeps this many files: at most 40 MB of log whatever anyone sends
MAX_PENDING = 4 * MiB  # bytes the server buffers for one connection that does not read
# A protocol line (CONNECT, PUB) may not be longer: a failed login logs at most this much of a name.
MAX_CONTROL_LINE = 2048
_STAMP = re.compile(r"^(?P<date>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)$")
# Sources per participant stream: each is a consumer the server makes itself, counted by no JetStream
# limit (2,000 in one stream cost ~90 MB). Nothing in the course uses them; the guard removes more.
MAX_SOURCES = 4
GUARD_INTERVAL = 2.0  # seconds between the guard's looks at every participant's streams
# Changes to a participant's copy of "class" its own user may not ask for.
_COPY_API = ("CREATE", "UPDATE", "DELETE", "PURGE", "MSG.DELETE")


@dataclass(frozen=True)
class Limits:
    """Per-participant limits (each participant account gets all of them)."""

    max_connections: int
    max_subscriptions: int
    max_payload: int
    max_memory: int
    """bytes of memory-storage buckets"""
    max_file: int
    """bytes of file-storage buckets (the copy of ``class`` counts)"""
    max_streams: int
    max_consumers: int
    """consumers per stream (JetStream has no per-account total: at most max_streams x this)"""


def participant_limits(participants: int) -> Limits:
    """The limits of each participant account, sized so that all of them together fit.

    Totals stay at 12.5 GiB of disk and 1.6 GiB of memory storage whatever the class size:
    up to 50 participants 256 MiB disk / 32 MiB memory each, up to 100 half that, up to 200 a
    quarter. The server's own JetStream limits are set to the sum, so the quotas are reservations.
    """
    if participants <= 50:
        file, memory, consumers = 256 * MiB, 32 * MiB, 16
    elif participants <= 100:
        file, memory, consumers = 128 * MiB, 16 * MiB, 12
    else:
        file, memory, consumers = 64 * MiB, 8 * MiB, 8
    return Limits(max_connections=8, max_subscriptions=1000, max_payload=1 * MiB, max_memory=memory,
                  max_file=file, max_streams=32, max_consumers=consumers)


CLASS_LIMITS = Limits(max_connections=16, max_subscriptions=10_000, max_payload=1 * MiB, max_memory=64 * MiB,
                      max_file=256 * MiB, max_streams=8, max_consumers=256)


@dataclass(frozen=True)
class Seat:
    """One login: a participant (``p1``...) or the instructor, with its nkey."""

    user: str
    seed: str = field(repr=False)
    """The nkey seed (``SU...``): the secret that logs in. It goes on the join sheet only."""
    account: str

    @property
    def public_key(self) -> str:
        """The nkey public key (``U...``): what the server config holds."""
        import nkeys

        return str(nkeys.from_seed(self.seed.encode()).public_key.decode())

    @property
    def is_instructor(self) -> bool:
        return self.account == CLASS_ACCOUNT


def participant_js_prefix(user: str) -> str:
    """The JetStream API prefix under which the instructor reaches participant ``user``'s buckets."""
    return f"$JS.{user}.API"


def deliver_prefix(user: str) -> str:
    """Where consumers in participant ``user``'s account deliver to the instructor (``_DLV_<user>``)."""
    return f"_DLV_{user}"


def _new_seed() -> str:
    try:
        import nkeys
    except ImportError:  # pragma: no cover - a declared dependency
        raise NotSupported("classroom mode logs users in with nkeys, which is not installed. "
                           "Fix: pip install nkeys") from None
    return str(nkeys.encode_seed(secrets.token_bytes(32), nkeys.PREFIX_BYTE_USER).decode())


def _q(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid nats-server config string


def _size(n: int) -> str:
    return f"{n // MiB}MB" if n % MiB == 0 else str(n)


def _limits(limits: Limits) -> list[str]:
    return [
        f"    limits: {{ max_connections: {limits.max_connections}, max_subscriptions: {limits.max_subscriptions}, "
        f"max_payload: {_size(limits.max_payload)}, max_leafnodes: 0 }}",
        f"    jetstream: {{ max_memory: {_size(limits.max_memory)}, max_file: {_size(limits.max_file)}, "
        f"max_streams: {limits.max_streams}, max_consumers: {limits.max_consumers} }}",
    ]


def classroom_config(participants: list[Seat], instructor: Seat, *, log_file: str | os.PathLike[str] | None = None,
                     limits: Limits | None = None, log_limit: int = LOG_LIMIT) -> str:
    """The nats-server configuration text (limits, accounts, nkey users, exports, imports) for a classroom.

    It holds public keys only. ``log_file``: where the server logs (rotated at ``log_limit`` bytes,
    3 old files kept); ``limits``: per participant (default :func:`participant_limits`).
    """
    limits = limits or participant_limits(len(participants))
    total_file = limits.max_file * len(participants) + CLASS_LIMITS.max_file
    total_memory = limits.max_memory * len(participants) + CLASS_LIMITS.max_memory
    lines = [
        "# kvnb classroom: generated at start; users log in with nkeys (public keys only here).",
        f"max_pending: {_size(MAX_PENDING)}",
        f"max_control_line: {MAX_CONTROL_LINE}",
        "max_traced_msg_len: 128  # if someone turns tracing on, payloads (values) stay out of the log",
        f"max_payload: {_size(max(limits.max_payload, CLASS_LIMITS.max_payload))}",
        # Reservations, not only quotas: the server never promises more than the sum of the accounts'.
        f"jetstream: {{ max_memory_store: {_size(total_memory)}, max_file_store: {_size(total_file)} }}",
    ]
    if log_file is not None:
        lines += [f"log_file: {_q(str(log_file))}", f"logfile_size_limit: {_size(log_limit)}",
                  f"logfile_max_num: {LOG_FILES}"]
    lines.append("accounts {")
    class_exports, class_imports = [], []
    for p in participants:
        class_imports += [
            f"    {{ service: {{ account: {p.account}, subject: {_q('$JS.API.>')} }}, "
            f"to: {_q(participant_js_prefix(p.user) + '.>')} }}",
            f"    {{ stream: {{ account: {p.account}, subject: {_q(deliver_prefix(p.user) + '.>')} }} }}",
        ]
    everyone = ", ".join(p.account for p in participants)
    class_exports.append(f"    {{ stream: {_q(f'$KV.{SHARED_BUCKET}.>')}, accounts: [{everyone}] }}")
    lines += [
        f"  {CLASS_ACCOUNT} {{",
        *_limits(CLASS_LIMITS),
        f"    users: [ {{ nkey: {_q(instructor.public_key)} }} ]",
        "    exports: [", *class_exports, "    ]",
        "    imports: [", *class_imports, "    ]",
        "  }",
    ]
    for p in participants:
        # What a participant's user may not publish: the instructor's delivery subjects of its account,
        # service replies, the shared bucket's subjects (its copy would store them), changes to its copy.
        deny_pub = ["_R_.>", f"{deliver_prefix(p.user)}.>", f"$KV.{SHARED_BUCKET}.>",
                    *(f"$JS.API.STREAM.{op}.KV_class" for op in _COPY_API)]
        deny_sub = ["$JS.API.>", "_R_.>", f"{deliver_prefix(p.user)}.>"]
        imports = [f"      {{ stream: {{ account: {CLASS_ACCOUNT}, subject: {_q(f'$KV.{SHARED_BUCKET}.>')} }} }}"]
        lines += [
            f"  {p.account} {{",
            *_limits(limits),
            f"    users: [ {{ nkey: {_q(p.public_key)}, permissions: {{",
            f"      publish: {{ deny: [{', '.join(_q(s) for s in deny_pub)}] }},",
            f"      subscribe: {{ deny: [{', '.join(_q(s) for s in deny_sub)}] }} }} }} ]",
            "    exports: [",
            f"      {{ service: {_q('$JS.API.>')}, accounts: [{CLASS_ACCOUNT}] }}",
            f"      {{ stream: {_q(deliver_prefix(p.user) + '.>')}, accounts: [{CLASS_ACCOUNT}] }}",
            "    ]",
            "    imports: [", *imports, "    ]",
            "  }",
        ]
    lines += ["}", ""]
    return "\n".join(lines)


def _seats(n: int) -> tuple[list[Seat], Seat]:
    participants = [Seat(user=f"p{i}", seed=_new_seed(), account=f"P{i}") for i in range(1, n + 1)]
    return participants, Seat(user="instructor", seed=_new_seed(), account=CLASS_ACCOUNT)


def _lan_address() -> str:
    """This machine's address on its LAN (no packet is sent: a UDP connect only picks a route)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere, used only to choose a source address
            return str(s.getsockname()[0])
    except OSError:
        return socket.gethostname()


def _private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` created 0600 from the start: no moment where others could read it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def prepare_instructor(nc: NATS, users: list[str]) -> NATS:
    """Make the instructor connection ``nc`` watch participants' buckets safely; returns ``nc``.

    Watches made through ``$JS.<user>.API`` then deliver on ``_DLV_<user>.<random>``, the one
    subject space that user's account exports to CLASS (:func:`kvnb.watch.route_deliveries`).
    ``Classroom.connect("instructor")`` does it; call it after ``kvnb.connect()`` otherwise.
    """
    from .watch import route_deliveries

    for user in users:
        route_deliveries(nc, participant_js_prefix(user), deliver_prefix(user))
    return nc


class Classroom:
    """A running classroom server. Made by :func:`start_classroom`; ``with`` stops it."""

    def __init__(self, server: Server, participants: list[Seat], instructor: Seat, *, host: str,
                 config_path: Path, work_dir: Path, limits: Limits | None = None) -> None:
        self.server = server
        self.participants = participants
        self.instructor = instructor
        self.host = host
        self.config_path = config_path
        self.work_dir = work_dir
        self.limits = limits or participant_limits(len(participants))
        self._written: list[Path] = []  # join sheets and seed files: removed at stop()
        self.guard_log: list[str] = []
        """What the source guard removed (see :func:`remove_source_floods`)."""
        self._guard_stop = threading.Event()
        self._guard: threading.Thread | None = None

    def start_guard(self, interval: float = GUARD_INTERVAL) -> None:
        """Look at every participant's streams every ``interval`` s and remove source floods."""
        if self._guard is None:
            self._guard = threading.Thread(target=_guard, args=(self, self._guard_stop, interval),
                                           name="kvnb-classroom-guard", daemon=True)
            self._guard.start()

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

    @property
    def users(self) -> list[str]:
        """The participants' user names, p1..pN."""
        return [seat.user for seat in self.participants]

    def seat(self, user: str) -> Seat:
        """The seat of ``user`` (``"p1"``..., or ``"instructor"``)."""
        for seat in [*self.participants, self.instructor]:
            if seat.user == user:
                return seat
        raise InvalidOption(f"no classroom user {user!r}; users are p1..p{len(self.participants)} and instructor.")

    def env(self, user: str, seed_file: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """The environment variables a kernel needs to work as ``user`` (kvnb and the nats CLI read them).

        ``NATS_NKEY`` names a file holding the seed (``seed_file``, else ``~/.kvnb/<user>.nk``).
        """
        seat = self.seat(user)
        env = {"NATS_URL": self.url, "NATS_NKEY": str(seed_file or f"~/.kvnb/{seat.user}.nk")}
        if seat.is_instructor:  # the instructor notebook lists p1..pN from it
            env[PARTICIPANTS_VAR] = str(len(self.participants))
        return env

    async def connect(self, user: str, **options: Any) -> NATS:
        """Log in as ``user`` with its nkey: a participant or the instructor (ready to watch everyone)."""
        from .client import connect

        seat = self.seat(user)
        nc = await connect(self.local_url, nkeys_seed_str=seat.seed, name=f"kvnb-{seat.user}", **options)
        return prepare_instructor(nc, self.users) if seat.is_instructor else nc

    def sheet(self, seed_files: dict[str, Path] | None = None) -> str:
        """The join sheet: URL, every seed, and the environment variables for each kernel (keep it private)."""
        seed_files = seed_files or {}
        lim = self.limits
        out = [
            "kvnb classroom — join sheet (keep it private: every seed on it logs in as its user)",
            f"Server: {self.url}",
            "",
            "Each participant: save your seed in a file only you can read, point NATS_NKEY at it and set",
            "NATS_URL before starting JupyterLab; the notebooks then use your own account. Your buckets are",
            f"yours alone; the shared bucket '{SHARED_BUCKET}' is read-only for you: "
            "kvnb.classroom.open_shared_bucket().",
            f"Limits per participant: {lim.max_connections} connections, {lim.max_subscriptions} subscriptions, "
            f"{lim.max_streams} buckets, {lim.max_consumers} watches per bucket,",
            f"{lim.max_file // MiB} MiB on disk, {lim.max_memory // MiB} MiB in memory, "
            f"{lim.max_payload // MiB} MiB per message.",
            "",
        ]
        for seat in [*self.participants, self.instructor]:
            seed_file = seed_files.get(seat.user)
            out.append(f"[{seat.user}] seed {seat.seed}")
            if seed_file is None:
                out.append(f"  save the seed in ~/.kvnb/{seat.user}.nk, readable by you only (chmod 600), then:")
            else:
                out.append(f"  (already saved in {seed_file}, mode 0600)")
            out += [f"  export {k}={v}" for k, v in self.env(seat.user, seed_file).items()]
            if seat.is_instructor:
                out.append("  open notebooks/instructor.ipynb to watch every participant live.")
            out.append("")
        return "\n".join(out)

    def write_sheet(self, path: str | os.PathLike[str], *, seed_files: bool = True) -> Path:
        """Write :meth:`sheet` to ``path`` readable by its owner only (0600); returns the path.

        With ``seed_files`` each seed is also saved, 0600, in ``<path>.seeds/<user>.nk`` (a 0700
        folder), and the sheet's ``NATS_NKEY`` lines name those files. :meth:`stop` removes them all:
        the seeds log in to this run of the server only.
        """
        target = Path(path).expanduser()
        target.parent.mkdir(parents=True, exist_ok=True)
        files: dict[str, Path] = {}
        if seed_files:
            folder = target.with_name(target.name + ".seeds")
            folder.mkdir(mode=0o700, exist_ok=True)
            os.chmod(folder, 0o700)
            self._written.append(folder)
            for seat in [*self.participants, self.instructor]:
                files[seat.user] = folder / f"{seat.user}.nk"
                _private_file(files[seat.user], seat.seed + "\n")
        self._written.append(target)
        _private_file(target, self.sheet(files))
        return target

    def stop(self) -> None:
        """Stop the server and remove every file the classroom wrote: config, its store (when
        temporary), logs, join sheets and seed files."""
        self._guard_stop.set()
        if self._guard is not None:
            self._guard.join(timeout=GUARD_INTERVAL + 5)
        self.server.stop()
        for path in self._written:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        shutil.rmtree(self.work_dir, ignore_errors=True)

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


def _check_disk(where: Path, needed: int) -> None:
    free = shutil.disk_usage(where).free
    if free < needed:
        raise InvalidOption(
            f"the classroom reserves {needed / (1 << 30):.1f} GiB of disk for its buckets (every participant's "
            f"quota, so one participant can never fill the disk for the others), but {where} has only "
            f"{free / (1 << 30):.1f} GiB free. Fix: pass a store_dir (--store-dir) on a larger disk, "
            "or fewer participants."
        )


def start_classroom(participants: int, *, host: str = HOST, port: int | None = None,
                    store_dir: str | os.PathLike[str] | None = None, shared_history: int = 10,
                    guard: bool = True) -> Classroom:
    """Start a classroom server with ``participants`` users (p1..pN) and an instructor.

    It listens on 127.0.0.1 unless ``host`` says otherwise (``"0.0.0.0"`` exposes it on every
    network the machine is on: only in a room you trust). The shared bucket ``class`` is created
    (history ``shared_history``) and copied into every participant's account; only the
    instructor can write it. Without ``store_dir`` the store is temporary and removed by ``stop()``.
    ``guard``: a thread removes, every 2 s, participant streams with more than 4 sources
    (:func:`remove_source_floods`).
    """
    if isinstance(participants, bool) or not isinstance(participants, int) or not 1 <= participants <= MAX_PARTICIPANTS:
        raise InvalidOption(f"participants must be an int from 1 to {MAX_PARTICIPANTS}, got {participants!r}. "
                            "Example: kvnb classroom --participants 12")
    if not isinstance(host, str) or not host:
        raise InvalidOption(f"host must be an address like '127.0.0.1' or '0.0.0.0', got {host!r}.")
    seats, instructor = _seats(participants)
    limits = participant_limits(participants)
    work = _process.temp_dir("classroom")  # its owner's pid in the name: swept if we die unannounced
    room: Classroom | None = None
    try:
        store = Path(store_dir).expanduser().resolve() if store_dir is not None else work / "store"
        store.mkdir(parents=True, exist_ok=True)
        _check_disk(store, limits.max_file * participants + CLASS_LIMITS.max_file)
        config_path = work / "classroom.conf"
        # nats-server writes (and rotates) the log kvnb reads at start: the same file as launch's.
        _private_file(config_path, classroom_config(seats, instructor, log_file=store / "nats-server.log",
                                                    limits=limits))
        extra = [] if host == HOST else ["--addr", host]  # kvnb's launch binds 127.0.0.1; the last --addr wins
        server = launch(config_file=config_path, port=port, store_dir=store, name="kvnb-classroom", extra_args=extra)
        room = Classroom(server, seats, instructor, host=host, config_path=config_path, work_dir=work, limits=limits)
        # A private loop in a thread of its own: this works from a script and inside a notebook,
        # whose loop is already running (asyncio.run() would refuse there).
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _create_shared_bucket(room, shared_history)).result()
        if guard:
            room.start_guard()
    except BaseException:
        if room is not None:
            room.stop()
        shutil.rmtree(work, ignore_errors=True)
        raise
    return room


def _copy_config(history: int) -> Any:
    from nats.js import api

    # The participant's copy of "class", shaped like the KV bucket (kvnb opens it as "class"). It stores
    # what CLASS's export brings in, the same messages in the same order, so revisions match; it never
    # answers (no_ack): the instructor's writes get CLASS's answer only. Rollups make purges reach it.
    return api.StreamConfig(
        name=f"KV_{SHARED_BUCKET}", subjects=[f"$KV.{SHARED_BUCKET}.>"], no_ack=True,
        max_msgs_per_subject=history, max_bytes=SHARED_MAX_BYTES + MiB, discard=api.DiscardPolicy.OLD,
        allow_direct=True, allow_rollup_hdrs=True, deny_delete=True, storage=api.StorageType.FILE,
        description=f"a read-only copy of the classroom's shared bucket {SHARED_BUCKET!r}",
    )


async def _create_shared_bucket(room: Classroom, history: int) -> None:
    from nats.js import api

    nc = await room.connect(room.instructor.user)
    try:
        # The copies first: then they hold every message the bucket ever had.
        async def copy(user: str) -> None:
            await nc.jetstream(prefix=participant_js_prefix(user)).add_stream(_copy_config(history))

        await asyncio.gather(*(copy(u) for u in room.users))
        await nc.jetstream().create_key_value(api.KeyValueConfig(bucket=SHARED_BUCKET, history=history,
                                                                 max_bytes=SHARED_MAX_BYTES, direct=True))
    finally:
        await nc.close()


async def open_shared_bucket(nc: NATS | None = None, *, instructor: bool = False) -> KV:
    """Open the classroom's shared bucket: a participant opens its read-only copy (in its own
    account); the instructor (``instructor=True``) the bucket itself, read-write."""
    from .bucket import open_bucket
    from .client import default_connection

    conn = nc if nc is not None else await default_connection()
    return await open_bucket(SHARED_BUCKET, nc=conn)


async def remove_source_floods(nc: NATS, users: list[str], *, limit: int = MAX_SOURCES,
                               timeout: float = 2.0) -> list[tuple[str, str, int]]:
    """Delete every participant stream with more than ``limit`` sources (instructor connection ``nc``).

    JetStream caps streams and consumers per account, but not the sources of a stream, and each
    source is a consumer the server makes itself: the one way one participant could still take
    gigabytes of the server's memory. Returns (user, stream, sources) for each stream removed.
    """
    removed: list[tuple[str, str, int]] = []
    for user in users:
        prefix, offset = participant_js_prefix(user), 0
        while True:
            msg = await nc.request(f"{prefix}.STREAM.LIST", json.dumps({"offset": offset}).encode(), timeout=timeout)
            body = json.loads(msg.data or b"{}")
            streams = body.get("streams") or []
            for info in streams:
                config = info.get("config", {})
                count = len(config.get("sources") or [])
                if count > limit:
                    await nc.request(f"{prefix}.STREAM.DELETE.{config.get('name', '')}", b"", timeout=timeout)
                    removed.append((user, str(config.get("name", "")), count))
            offset += len(streams)
            if not streams or offset >= int(body.get("total", 0)):
                break
    return removed


def _guard(room: Classroom, stop: threading.Event, interval: float) -> None:
    """The source guard's thread: its own loop and instructor connection, a look every ``interval`` s."""
    async def run() -> None:
        nc = await room.connect(room.instructor.user)
        try:
            while not stop.is_set():
                try:
                    for user, stream, count in await remove_source_floods(nc, room.users):
                        room.guard_log.append(f"removed {user}'s stream {stream!r}: {count} sources "
                                              f"(at most {MAX_SOURCES})")
                        log.warning("classroom: %s", room.guard_log[-1])
                except Exception as err:  # the server is stopping, or slow: look again next time
                    log.debug("classroom guard: %r", err)
                await asyncio.get_running_loop().run_in_executor(None, stop.wait, interval)
        finally:
            await nc.close()

    asyncio.run(run())


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
    """Every KV bucket of participant ``user`` (instructor connection), with its size and last write.

    The participant's copy of the shared bucket is left out: everyone has one."""
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
            config = info.get("config", {})
            name = config.get("name", "")
            if not name.startswith("KV_") or (name == f"KV_{SHARED_BUCKET}" and config.get("no_ack")):
                continue  # not a bucket, or the participant's copy of the shared bucket
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
    return _html.root("activityboard", "participants' buckets", "".join(out))


class ActivityBoard(FrozenPicture):
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
        self._init_frozen()

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
        """Stop polling; the last picture stays on the page (and in the saved notebook), marked stopped."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._freeze()


# The instructor's progress board lives with the recording it reads (kvnb.progress).
from .progress import ProgressBoard  # noqa: E402, F401
