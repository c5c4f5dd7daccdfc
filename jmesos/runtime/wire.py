"""Authenticated message channels over TCP, driven by one selector loop per process.

Every connection starts with a mutual HMAC challenge over the cluster's
secret (as Jupyter and multiprocessing do): the listener sends a nonce, the
connecting side answers ``HMAC(secret, nonce)`` with a nonce of its own, and
the listener proves itself back.  Nothing is unpickled before that succeeds;
a peer without the secret is dropped and reported, and the loop goes on
serving the others.

After the handshake, a frame is a 4-byte length and a pickled batch of
messages: everything queued for a peer during one loop iteration leaves in one
frame, so a burst of status updates costs one system call, not thousands.  The
offer cycle's messages travel as flat tuples (:mod:`.codec`), the rest as the
objects they are.  A big :class:`~.serialize.Blob` (a task's result or
argument) follows its frame's pickle out of band (:func:`dump_frame`): written
from where it lies and rebuilt with one copy.
Writes never block: what the kernel cannot take now waits in a buffer.  A message
sent ``at_once`` (a launch or offers, which someone waits for) does not wait for the end
of the iteration: it leaves at once, with what was queued for that peer before it.

A message sent ``lazy`` (an acknowledgement, which only stops a retry a second
away) does not wake the peer by itself: it rides with the next message to that
peer, or leaves on its own after :data:`LAZY_DELAY`.  Each wake-up of a process
costs a context switch and a system call or two, which on a small machine is
the bulk of a short task's overhead.
"""

from __future__ import annotations

import errno
import hmac
import mmap
import os
import pickle
import selectors
import socket
import struct
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from . import codec
from .serialize import OUT_OF_BAND_BYTES, Blob

__all__ = [
    "Hub",
    "Channel",
    "HubEvent",
    "AuthenticationError",
    "NotAMasterError",
    "read_secret",
    "write_secret",
    "new_secret",
    "check_port",
    "listening_socket",
]

_HEADER = struct.Struct("!I")
#: set in a frame's length word: out-of-band buffers follow its pickle (see :func:`dump_frame`)
_OUT_OF_BAND = 1 << 31
_COUNT = struct.Struct("!I")
_SIZE = struct.Struct("!Q")
_MAX_BUFFERS = 4096
_NONCE = 32
_DIGEST = "sha256"
_MAX_FRAME = 1 << 30
#: Bytes read from a socket per system call, into one buffer the hub reuses: reading into a fresh
#: 1 MiB ``bytes`` each time cost an mmap, an mremap and a munmap per read (glibc maps blocks
#: that large anew every time), more than the read itself.  The buffer is a private anonymous
#: mapping: only the pages a read has touched take memory, and a forked worker gets a copy of
#: what it held at the fork (as of the rest of the agent's memory), never a view of later reads.
_READ_SIZE = 1 << 20
#: The listener's greeting; its number changes whenever the frames' layout does (see :mod:`.codec`).
_HELLO = b"JMESOS3"  # 3: frames may carry out-of-band buffers
_HELLO_STEM = b"JMESOS"
#: The shortest secret a secret file may hold (the ones jmesos writes are 64 random hex digits).
MIN_SECRET = 16
#: The longest a lazy message waits for company before it is sent alone.
LAZY_DELAY = 0.02
#: How long a new connection has to answer the challenge before it is dropped: a connection
#: that says nothing would otherwise hold a socket for as long as the master runs.
AUTH_TIMEOUT = 5.0


class AuthenticationError(ConnectionError):
    """The other side does not hold this cluster's secret."""


class NotAMasterError(AuthenticationError):
    """What answered at the address is not a jmesos master (no greeting, or another kind of server)."""


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (0: any free port); OSError, with nothing left open, if it cannot."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    return sock


def check_port(port: Any, field_name: str = "port") -> int:
    """``port`` as a TCP port number (0: any free one), or ValueError naming the field and the fix."""
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValueError(
            f"{field_name}={port!r} is not a TCP port; use a number from 1 to 65535, or 0 for any free port"
        )
    return port


def new_secret() -> bytes:
    return os.urandom(32).hex().encode()


def read_secret(path: str) -> bytes:
    """Read a secret file (as written by ``LocalCluster`` or ``python -m jmesos master``)."""
    try:
        with open(path, "rb") as f:
            secret = f.read().strip()
    except OSError as exc:
        raise ValueError(
            f"secret_file={path!r} cannot be read ({exc.strerror}); pass the file the master wrote"
        ) from None
    if not secret:
        raise ValueError(f"secret_file={path!r} is empty; pass the file the master wrote")
    if len(secret) < MIN_SECRET:
        raise ValueError(
            f"secret_file={path!r} holds a secret of {len(secret)} bytes, too easy to guess; use at least "
            f"{MIN_SECRET} random ones (remove the file and let python -m jmesos master write a new one)"
        )
    return secret


def write_secret(path: str, secret: bytes, *, replace: bool = False) -> None:
    """Write ``secret`` to a new file only its owner can read (mode 0600); ``replace`` allows an old one there."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret)


def _mac(secret: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, nonce, _DIGEST).digest()


@dataclass(eq=False)
class Channel:
    """One authenticated connection; ``name`` is what the process calls the peer."""

    sock: socket.socket
    name: str
    address: Any = None
    authenticated: bool = False
    inbuf: bytearray = field(default_factory=bytearray)
    out: deque = field(default_factory=deque)  # what the kernel has not taken yet: see _queue
    pending: list = field(default_factory=list)
    lazy: list = field(default_factory=list)
    nonce: bytes = b""
    closed: bool = False
    writing: bool = False  # registered for EVENT_WRITE: the kernel did not take all of out
    info: dict = field(default_factory=dict)
    # eq=False keeps object's identity hash, computed in C: channels key the hub's sets and dicts


@dataclass
class HubEvent:
    """What :meth:`Hub.poll` reports: ``kind`` is connected, messages, receiving, closed or refused.

    ``receiving``: part of a frame came and the rest is on its way (a large message, such
    as a task's big result, takes many reads): the peer is alive though nothing is whole yet.
    """

    kind: str
    channel: Channel | None
    messages: list = field(default_factory=list)
    detail: str = ""


class Hub:
    """A selector loop over a listening socket and channels.  Not thread-safe, except :meth:`call_soon`."""

    def __init__(self, secret: bytes, name: str = "peer") -> None:
        if not secret:
            raise ValueError("secret is empty; every jmesos connection needs the cluster's secret")
        self.secret = secret
        self.name = name
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.channels: set[Channel] = set()
        self._seq = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        # a deque, not a queue: appending and popping are atomic already, and an empty check costs
        # no exception (raising queue.Empty took ~8 us per wake-up, right after an idle spell)
        self._calls: deque[Callable[[], None]] = deque()
        self._dirty: set[Channel] = set()
        self._lazy: dict[Channel, float] = {}  # channels holding lazy messages -> when they go at the latest
        self._unanswered: dict[Channel, float] = {}  # accepted, challenged, not yet answered -> when to give up
        self._rbuf = memoryview(mmap.mmap(-1, _READ_SIZE, flags=mmap.MAP_PRIVATE))

    # -- set-up -----------------------------------------------------------------------
    def listen(self, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> tuple[str, int]:
        """Listen on ``host:port`` (or adopt an already bound ``sock``); returns the address."""
        if sock is None:
            sock = listening_socket(host, port)
        sock.setblocking(False)
        self.listener = sock
        self.selector.register(sock, selectors.EVENT_READ, "listen")
        return sock.getsockname()[:2]

    def connect(self, host: str, port: int, name: str = "master", timeout: float = 10.0) -> Channel:
        """Connect and authenticate (blocking, up to ``timeout``); raises on a wrong secret."""
        sock = socket.create_connection((host, port), timeout=timeout)
        where = f"{host}:{port}"
        try:
            try:
                hello = _recv_exact(sock, len(_HELLO) + _NONCE)
            except OSError as exc:  # a master greets at once: this is something else
                said = "it said nothing" if isinstance(exc, socket.timeout) else "it closed the connection"
                raise NotAMasterError(f"{where} is not a jmesos master ({said} where a master greets)") from None
            if not hello.startswith(_HELLO):
                if hello.startswith(_HELLO_STEM):
                    spoken = hello[: len(_HELLO)].decode(errors="replace")
                    raise AuthenticationError(
                        f"{where} speaks protocol {spoken}, this jmesos speaks {_HELLO.decode()}; "
                        "install the same jmesos version on every host of the cluster"
                    )
                raise NotAMasterError(f"{where} is not a jmesos master (it does not greet as one)")
            theirs = hello[len(_HELLO) :]
            mine = os.urandom(_NONCE)
            try:
                sock.sendall(_mac(self.secret, theirs) + mine)
                proof = _recv_exact(sock, len(_mac(b"x", b"x")))
            except OSError:  # a master closes on an answer made with another secret
                raise AuthenticationError(f"the master at {where} refused this cluster's secret") from None
            if not hmac.compare_digest(proof, _mac(self.secret, mine)):
                raise AuthenticationError(f"{where} does not hold this cluster's secret")
        except AuthenticationError:
            sock.close()
            raise
        return self._adopt(sock, name, (host, port), authenticated=True)

    def _adopt(self, sock: socket.socket, name: str, address: Any, authenticated: bool) -> Channel:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        channel = Channel(sock, name, address, authenticated)
        self.channels.add(channel)
        self.selector.register(sock, selectors.EVENT_READ, channel)
        return channel

    # -- sending ----------------------------------------------------------------------
    def send(self, channel: Channel, message: Any, *, lazy: bool = False, at_once: bool = False) -> None:
        """Queue ``message``; it leaves with the others of this iteration at :meth:`flush`.

        ``lazy`` messages wait for the next message to the same peer, or :data:`LAZY_DELAY`,
        and then travel behind it, so the peer handles what someone waits for first.
        ``at_once`` writes the message now, with whatever was queued for that peer before it,
        instead of after the rest of this iteration's work and the other peers' frames.
        """
        if channel.closed:
            return
        if at_once:
            channel.pending.append(message)
            self._dirty.discard(channel)
            self._lazy.pop(channel, None)
            self._flush_channel(channel)
            return
        if not lazy:
            channel.pending.append(message)
            self._dirty.add(channel)
            return
        channel.lazy.append(message)
        if channel not in self._lazy:
            self._lazy[channel] = time.monotonic() + LAZY_DELAY

    def hurry(self, channel: Channel) -> None:
        """Send the lazy messages queued for ``channel`` now, ahead of anything queued after them.

        For a goodbye: what was acknowledged must reach the peer before the peer hears we left.
        """
        if channel.lazy:
            channel.pending += channel.lazy
            channel.lazy = []
            self._lazy.pop(channel, None)
            self._dirty.add(channel)

    def flush(self) -> None:
        """Write every queued batch, except lazy ones not yet due (what the socket cannot take stays buffered)."""
        dirty, self._dirty = self._dirty, set()
        if self._lazy:
            now = time.monotonic()
            for channel, due in list(self._lazy.items()):
                if due <= now or channel in dirty:
                    del self._lazy[channel]
                    dirty.add(channel)
        for channel in dirty:
            self._flush_channel(channel)

    def _flush_channel(self, channel: Channel) -> None:
        """Write what is queued for ``channel`` as one frame, its lazy messages behind the rest."""
        if channel.closed:
            return
        batch = channel.pending
        if channel.lazy:
            batch += channel.lazy
            channel.lazy = []
        if not batch:
            return
        channel.pending = []  # taken even if it cannot be pickled: a retry would only fail again
        for chunk in dump_frame(codec.encode(batch)):
            _queue(channel.out, chunk)
        self._write(channel)

    def _write(self, channel: Channel) -> None:
        out = channel.out
        try:
            sent = channel.sock.send(out[0]) if len(out) == 1 else channel.sock.sendmsg(list(islice(out, 64)))
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(channel)
            return
        _consume(out, sent)
        writing = bool(out)
        if writing == channel.writing:
            return
        channel.writing = writing
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
        try:
            self.selector.modify(channel.sock, events, channel)
        except (KeyError, ValueError):
            pass

    def add_reader(self, fileobj: Any, callback: Callable[[], None]) -> None:
        """Call ``callback()`` from :meth:`poll` whenever ``fileobj`` (a pipe, a socket) is readable."""
        self.selector.register(fileobj, selectors.EVENT_READ, callback)

    def remove_reader(self, fileobj: Any) -> None:
        try:
            self.selector.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    def call_soon(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the loop's thread at its next iteration (safe from any thread)."""
        self._calls.append(fn)
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass

    def close(self, channel: Channel) -> None:
        """Close ``channel`` after writing what is buffered for it (best effort)."""
        self._lazy.pop(channel, None)
        if channel.pending or channel.lazy:
            self._dirty.add(channel)
            self.flush()
        if channel.out:
            try:
                channel.sock.setblocking(True)
                channel.sock.settimeout(1.0)
                for chunk in channel.out:
                    channel.sock.sendall(chunk)
            except OSError:
                pass
            channel.out.clear()
        self._close(channel)

    def _close(self, channel: Channel) -> None:
        if channel.closed:
            return
        channel.closed = True
        self.channels.discard(channel)
        self._lazy.pop(channel, None)
        self._unanswered.pop(channel, None)
        try:
            self.selector.unregister(channel.sock)
        except (KeyError, ValueError):
            pass
        channel.sock.close()

    def shutdown(self) -> None:
        for channel in list(self.channels):
            self.close(channel)
        if self.listener is not None:
            try:
                self.selector.unregister(self.listener)
            except (KeyError, ValueError):
                pass
            self.listener.close()
        self.selector.close()
        self._wake_r.close()
        self._wake_w.close()

    # -- receiving --------------------------------------------------------------------
    def poll(self, timeout: float | None) -> list[HubEvent]:
        """Wait up to ``timeout`` seconds (None: forever) and return what happened."""
        self.flush()
        if self._lazy:
            wait = max(0.0, min(self._lazy.values()) - time.monotonic())
            timeout = wait if timeout is None else min(timeout, wait)
        out: list[HubEvent] = []
        if self._unanswered:
            self._drop_unanswered(out)
            if self._unanswered:
                wait = max(0.0, min(self._unanswered.values()) - time.monotonic())
                timeout = wait if timeout is None else min(timeout, wait)
        for key, mask in self.selector.select(timeout):
            tag = key.data
            if tag == "wake":
                try:
                    while self._wake_r.recv(4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
            elif tag == "listen":
                self._accept(out)
            elif callable(tag):
                tag()
            else:
                channel: Channel = tag
                if mask & selectors.EVENT_WRITE and not channel.closed:
                    self._write(channel)
                if mask & selectors.EVENT_READ and not channel.closed:
                    self._read(channel, out)
        calls = self._calls
        while calls:
            calls.popleft()()
        return out

    def _accept(self, out: list[HubEvent]) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, address = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in (errno.EMFILE, errno.ENFILE):
                    return
                raise
            self._seq += 1
            channel = self._adopt(sock, f"conn-{self._seq}", address, authenticated=False)
            channel.nonce = os.urandom(_NONCE)
            _queue(channel.out, _HELLO + channel.nonce)
            self._unanswered[channel] = time.monotonic() + AUTH_TIMEOUT
            self._write(channel)

    def _drop_unanswered(self, out: list[HubEvent]) -> None:
        now = time.monotonic()
        for channel, due in list(self._unanswered.items()):
            if due <= now:
                self._close(channel)
                detail = (
                    f"connection from {channel.address} dropped: no answer to the challenge within {AUTH_TIMEOUT:g}s"
                )
                out.append(HubEvent("refused", None, detail=detail))

    def _read(self, channel: Channel, out: list[HubEvent]) -> None:
        try:
            n = channel.sock.recv_into(self._rbuf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            n = 0
        if not n:
            was_authenticated = channel.authenticated
            self._close(channel)
            if was_authenticated:
                out.append(HubEvent("closed", channel))
            return
        channel.inbuf += self._rbuf[:n]
        if not channel.authenticated:
            need = len(_mac(b"x", b"x")) + _NONCE
            if len(channel.inbuf) < need:
                return
            answer, theirs = bytes(channel.inbuf[: need - _NONCE]), bytes(channel.inbuf[need - _NONCE : need])
            del channel.inbuf[:need]
            if not hmac.compare_digest(answer, _mac(self.secret, channel.nonce)):
                self._close(channel)
                out.append(HubEvent("refused", None, detail=f"connection from {channel.address} refused: wrong secret"))
                return
            channel.authenticated = True
            self._unanswered.pop(channel, None)
            _queue(channel.out, _mac(self.secret, theirs))
            self._write(channel)
            out.append(HubEvent("connected", channel))
        messages: list = []
        frames, broken = take_frames(channel.inbuf)
        if broken:
            self._close(channel)
            out.append(HubEvent("closed", channel, detail=broken))
            return
        for frame, error in frames:
            if error is None:
                try:
                    messages.extend(codec.decode(frame))
                    continue
                except Exception as exc:  # noqa: BLE001
                    error = exc
            # a broken frame from an authenticated peer: report, keep serving
            out.append(HubEvent("refused", channel, detail=f"undecodable frame from {channel.name}: {error!r}"))
        if messages:
            out.append(HubEvent("messages", channel, messages))
        if channel.inbuf:
            out.append(HubEvent("receiving", channel))


def loads_at(buf: bytearray, start: int, size: int) -> Any:
    """Unpickle ``buf[start:start + size]`` where it lies.

    ``bytes(buf[a:b])`` copied a frame twice before pickle copied its contents a third
    time: for a task's 300 MB result, most of a second of fresh pages on each hop.
    """
    with memoryview(buf) as whole, whole[start : start + size] as frame:
        return pickle.loads(frame)


def dump_frame(obj: Any) -> list:
    """``obj`` as the chunks of one frame, in order: a length word and a pickle, then big Blobs' bytes.

    A :class:`~.serialize.Blob` of ``OUT_OF_BAND_BYTES`` or more (a task's big result, a
    big argument) leaves out of band (pickle protocol 5): written from where it lies,
    and read back with one copy, where pickled into the stream it was copied four times
    on each hop.  Such a frame's length word has :data:`_OUT_OF_BAND` set and is
    followed by the number of buffers and each one's size.
    """
    buffers: list = []
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL, buffer_callback=_only_blobs(buffers))
    if not buffers:
        return [_HEADER.pack(len(data)), data]
    sizes = b"".join(_SIZE.pack(raw.nbytes) for raw in buffers)
    return [_HEADER.pack(len(data) | _OUT_OF_BAND) + _COUNT.pack(len(buffers)) + sizes, data, *buffers]


def _only_blobs(buffers: list) -> Callable[[pickle.PickleBuffer], bool]:
    """A buffer_callback that takes Blobs out of band and leaves any other buffer (an array's) in band.

    A receiver's out-of-band buffers are views of its read buffer: only a Blob, which
    copies its bytes as it is rebuilt, may be made from one.
    """

    def callback(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if type(raw.obj) is Blob:
            buffers.append(raw)
            return False
        return True

    return callback


def frame_layout(buf: bytearray, offset: int) -> tuple[int, int, int, list[tuple[int, int]]] | None:
    """Where the frame at ``offset`` of ``buf`` lies, or None until all of it has arrived.

    ``(end, pickle start, pickle size, [(start, size) of each out-of-band buffer])``;
    ValueError for a frame no peer of ours would send.
    """
    layout = _parse_frame(buf, offset)
    return layout if type(layout) is tuple else None


def frame_missing(buf: bytearray) -> int:
    """How many more bytes the frame at the start of ``buf`` needs at least: 0 once it is whole."""
    layout = _parse_frame(buf, 0)
    return 0 if type(layout) is tuple else layout


def _parse_frame(buf: bytearray, offset: int) -> tuple[int, int, int, list[tuple[int, int]]] | int:
    """The frame's layout (see :func:`frame_layout`), or how many bytes it still needs at least."""
    have = len(buf) - offset
    if have < 4:
        return 4 - have
    (word,) = _HEADER.unpack_from(buf, offset)
    size = word & ~_OUT_OF_BAND
    if size > _MAX_FRAME:
        raise ValueError("frame too large")
    if not word & _OUT_OF_BAND:
        end = offset + 4 + size
        return (end, offset + 4, size, []) if len(buf) >= end else end - len(buf)
    if have < 8:
        return 8 - have
    (count,) = _COUNT.unpack_from(buf, offset + 4)
    if count > _MAX_BUFFERS:
        raise ValueError(f"frame with {count} out-of-band buffers")
    start = offset + 8 + _SIZE.size * count
    if len(buf) < start:
        return start - len(buf)
    spans, at = [], start + size
    for i in range(count):
        (length,) = _SIZE.unpack_from(buf, offset + 8 + _SIZE.size * i)
        spans.append((at, length))
        at += length
    return (at, start, size, spans) if len(buf) >= at else at - len(buf)


def take_frames(buf: bytearray) -> tuple[list[tuple[Any, Exception | None]], str]:
    """Unpickle the whole frames at the start of ``buf`` and remove them; a frame on its way stays.

    Returns ``[(object, None) or (None, why it could not be unpickled), ...]`` and, when
    a frame no peer of ours would send came (the stream cannot be trusted beyond it),
    why; else ``""``.
    """
    frames: list[tuple[Any, Exception | None]] = []
    offset = 0
    broken = ""
    while len(buf) - offset >= 4:
        (word,) = _HEADER.unpack_from(buf, offset)
        if word <= _MAX_FRAME:  # the usual frame, a pickle and nothing else, without _parse_frame's work
            if len(buf) - offset - 4 < word:
                break
            layout: Any = (offset + 4 + word, offset + 4, word, [])
        else:
            try:
                layout = frame_layout(buf, offset)
            except ValueError as exc:
                broken = str(exc)
                buf.clear()
                return frames, broken
            if layout is None:
                break
        try:
            frames.append((load_frame(buf, layout), None))
        except Exception as exc:  # noqa: BLE001 - the caller says whose frame it was
            frames.append((None, exc))
        offset = layout[0]
    if offset:
        del buf[:offset]
    return frames, broken


def load_frame(buf: bytearray, layout: tuple[int, int, int, list[tuple[int, int]]]) -> Any:
    """Unpickle the frame :func:`frame_layout` found, where it lies (its Blobs copy their bytes out)."""
    _, start, size, spans = layout
    if not spans:
        return loads_at(buf, start, size)
    with memoryview(buf) as whole:
        views = [whole[a : a + n] for a, n in spans]
        try:
            with whole[start : start + size] as body:
                return pickle.loads(body, buffers=views)
        finally:
            for view in views:
                view.release()


def _queue(out: deque, chunk: Any) -> None:
    """Add ``chunk`` to a channel's output: small ones join the bytearray at the end, big buffers go as they are."""
    if isinstance(chunk, memoryview) and chunk.nbytes >= OUT_OF_BAND_BYTES:
        out.append(chunk)
    elif out and type(out[-1]) is bytearray:
        out[-1] += chunk
    else:
        out.append(bytearray(chunk))


def _consume(out: deque, sent: int) -> None:
    """Drop the first ``sent`` bytes of a channel's output (the kernel took them)."""
    while sent:
        first = out[0]
        size = first.nbytes if isinstance(first, memoryview) else len(first)
        if sent >= size:
            out.popleft()
            sent -= size
        elif isinstance(first, memoryview):
            out[0] = first[sent:]
            return
        else:
            del first[:sent]
            return


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed during authentication")
        data += chunk
    return bytes(data)
