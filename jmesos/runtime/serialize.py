"""Shipping Python callables and results between processes.

Callables written in a notebook cell (lambdas, closures, classes) cannot be
pickled by reference, so they go by value with ``dill`` (multiprocess's
serialiser), with ``recurse=True`` so only the globals a function uses travel
with it, not the whole notebook namespace.  Serialising a function costs a few
hundred microseconds, so the bytes are cached per function object: ten thousand
tasks of one function pay for it once.  Arguments and results use plain pickle
when they can (fast) and fall back to dill.

A payload is ``(key, fn_bytes, call_bytes)``: an executor keeps the functions
it has loaded by ``key`` and skips ``fn_bytes`` it has seen.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import pickle
import sys
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["dumps_call", "loads_call", "dumps_value", "loads_value", "Blob", "SerializationError"]


class SerializationError(ValueError):
    """A task's function, arguments or result cannot be sent to another process."""


#: a Blob this big travels out of band: see :meth:`Blob.__reduce_ex__`
OUT_OF_BAND_BYTES = 64 * 1024


class Blob(bytes):
    """Bytes that hold a serialised value; the master forwards them without opening them."""

    __slots__ = ()

    def __reduce_ex__(self, protocol):
        """A big Blob is handed to the pickler as a buffer (protocol 5), not copied into a bytes first.

        The channels (:func:`.wire.dump_frame`) send such buffers out of band, from where
        they lie; anyone else pickling it gets them in band, as plain bytes.
        """
        if protocol >= 5 and len(self) >= OUT_OF_BAND_BYTES:
            return (Blob, (pickle.PickleBuffer(self),))
        return (Blob, (bytes(self),))


_fn_cache: weakref.WeakKeyDictionary[Any, tuple[str, bytes]] = weakref.WeakKeyDictionary()
_fn_cache_strong: dict[int, tuple[Any, str, bytes]] = {}


def _dill():
    import dill  # imported lazily: only processes that ship code pay for it

    return dill


_pickler: Any = None
#: sys.stdout and friends: dill sends them by name, which is harmless (the other side has its own)
_STANDARD_STREAMS = tuple(s for s in (sys.stdin, sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__) if s)


def _by_value(obj: Any) -> bytes:
    """``obj`` serialised by dill, with every imported module (but ``__main__``) sent by its name.

    dill sends a module by value (its whole namespace) unless it lives in the
    standard library or site-packages, so a cell's function that uses ``jmesos``
    (installed with ``pip install -e``) or the student's own ``helpers.py``
    would carry that module's every object, and fail on the first one that
    cannot be pickled.  The receiver must import it either way.
    """
    global _pickler
    if _pickler is None:

        class ModulesByName(_dill().Pickler):
            def reducer_override(self, obj: Any) -> Any:
                if type(obj) is ModuleType and obj.__name__ != "__main__" and sys.modules.get(obj.__name__) is obj:
                    return importlib.import_module, (obj.__name__,)
                if isinstance(obj, io.IOBase) and obj not in _STANDARD_STREAMS:
                    # dill would reopen the path on the other side: mode "w" empties the very file the
                    # notebook is writing, and the copy then writes into it
                    raise pickle.PicklingError(
                        f"{obj!r} is an open file, which does not travel; open it where it is used"
                    )
                return NotImplemented

        _pickler = ModulesByName
    buf = io.BytesIO()
    _pickler(buf, None, recurse=True).dump(obj)
    return buf.getvalue()


def _fn_bytes(fn: Callable[..., Any]) -> tuple[str, bytes]:
    try:
        cached = _fn_cache.get(fn)
    except TypeError:  # not weak-referenceable (e.g. a builtin method)
        entry = _fn_cache_strong.get(id(fn))
        cached = entry[1:] if entry is not None and entry[0] is fn else None
    if cached is not None:
        return cached
    try:
        data = _by_value(fn)
    except Exception as exc:
        raise SerializationError(
            f"fn={fn!r} cannot be sent to an agent ({type(exc).__name__}: {exc}); "
            "avoid capturing open files, sockets, locks or the cluster object in the task's function"
        ) from None
    result = (hashlib.blake2b(data, digest_size=12).hexdigest(), data)
    try:
        _fn_cache[fn] = result
    except TypeError:
        if len(_fn_cache_strong) > 4096:
            _fn_cache_strong.clear()
        _fn_cache_strong[id(fn)] = (fn, *result)
    return result


def dumps_value(value: Any, what: str = "value", by_value: bool = False) -> Blob:
    """Serialise a value: pickle when possible, dill otherwise.

    ``by_value=True`` goes straight to dill, which also carries classes
    defined in a notebook (pickle would name them and fail to find them in
    another process).
    """
    if not by_value:
        try:  # a pickle starts with its PROTO opcode (0x80): it needs no mark of its own
            return Blob(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:
            pass
    try:
        return Blob(b"D" + _by_value(value))
    except Exception as exc:
        raise SerializationError(f"{what} {value!r:.80} cannot be serialised ({type(exc).__name__}: {exc})") from None


def loads_value(blob: bytes) -> Any:
    """The value :func:`dumps_value` serialised (None for empty bytes)."""
    if not blob:
        return None
    if blob[:1] != b"D":
        return pickle.loads(blob)
    with memoryview(blob) as whole, whole[1:] as body:  # not blob[1:]: a copy of a 100 MB value is 50 ms
        return _dill().loads(body)


def dumps_call(fn: Callable[..., Any], args: tuple = (), kwargs: dict | None = None) -> Blob:
    """The payload of a Python task: the function (cached) and its arguments."""
    key, data = _fn_bytes(fn)
    call = dumps_value((tuple(args), dict(kwargs or {})), "the task's args/kwargs")
    return Blob(pickle.dumps((key, data, bytes(call)), protocol=pickle.HIGHEST_PROTOCOL))


def loads_call(
    payload: bytes, cache: dict[str, Callable[..., Any]] | None = None
) -> tuple[Callable[..., Any], tuple, dict]:
    """Open a payload; ``cache`` (key → function) saves loading the same function twice."""
    key, data, call = pickle.loads(payload)
    fn = cache.get(key) if cache is not None else None
    if fn is None:
        fn = _dill().loads(data)
        if cache is not None:
            cache[key] = fn
    args, kwargs = loads_value(call)
    return fn, args, kwargs
