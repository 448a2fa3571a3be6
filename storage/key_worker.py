"""Hashing a large insert's examples on a second core, in a helper process.

An insert of 100k examples spends about as long computing their duplicate keys (two sha256 over
~1.4k characters each, one after normalising the text) as SQLite spends writing them, and Python
runs one thread at a time. For a large insert, `hashed_chunks` starts a child process
(`python -m storage.key_worker`, which imports only storage.dedup_keys) and a thread that feeds it
chunks of texts, keeping two written ahead of its answers; the inserting thread writes each chunk
to the database as its keys come back. Whenever the keys it needs next are still being computed,
the inserting thread hashes the last chunk that nobody has taken yet, so the work splits itself
between the two and neither waits while the other has some left. If the child cannot start, stops,
answers wrongly or goes silent for STALL_S, the inserting thread hashes what is left itself: the
keys are the same either way.

The child reads frames from stdin and writes frames to stdout, each an 8-byte little-endian
length and then the payload. Going in: a pickle of the chunk, a list of (instruction, query,
positive, negative), which the child reads with an unpickler that refuses every class and function
(so a frame can only ever hold containers and text, never run code). Pickling is also what makes
the feeding thread cheap to share the GIL with: it stores each text's UTF-8 form in the string,
which SQLite's binding then reuses. Coming back: for each example its content_hash and norm_hash,
128 ASCII hex digits in all.
"""

import io
import os
import pickle
import re
import subprocess
import sys
import threading
from collections import deque
from pathlib import Path

from storage.dedup_keys import both_hashes

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

CHUNK = 1_000            # examples per frame
PARALLEL_MIN = 8_000     # smaller inserts hash in the calling thread (the child takes ~80 ms to start)
AHEAD = 2                # chunks written to the child ahead of its answers
PIPE_BYTES = 1 << 20     # an answer for CHUNK examples is ~0.15 MB
STALL_S = 60             # a chunk takes ~0.1 s; a helper silent this long is given up on
_HEADER = 8
_KEYS = 128              # hex digits of the two keys of one example
_HALF_KEY = re.compile(".{64}", re.S)
_ROOT = Path(__file__).resolve().parent.parent
HELPER_COMMAND = [sys.executable, "-m", "storage.key_worker"]


class HelperStopped(Exception):
    """The child process ended or its pipe broke."""


class _Split:
    """Which chunks are done, which the helper holds, and which nobody has taken yet (the range
    next_free..last_free: the helper takes from its front, the inserting thread from its back)."""

    def __init__(self, count: int):
        self.changed = threading.Condition()  # on a reentrant lock: next_job calls helper_stopped
        self.next_free, self.last_free = 0, count - 1
        self.done: dict[int, list] = {}
        self.held: set[int] = set()   # taken by the helper, not answered yet
        self.helper_alive = True

    def take_front(self) -> int | None:
        with self.changed:
            if not self.helper_alive or self.next_free > self.last_free:
                return None
            self.next_free += 1
            self.held.add(self.next_free - 1)
            return self.next_free - 1

    def answer(self, index: int, keys: list, by_helper: bool = False) -> None:
        with self.changed:
            if by_helper and index not in self.held:  # given back meanwhile (the helper stalled)
                return
            self.held.discard(index)
            self.done[index] = keys
            self.changed.notify_all()

    def helper_stopped(self) -> None:
        """What the helper held goes back to the inserting thread."""
        with self.changed:
            self.helper_alive = False
            self.held.clear()
            self.changed.notify_all()

    def next_job(self, wanted: int) -> int | None:
        """The chunk the inserting thread should hash now, or None when `wanted` is done. Waits
        while the helper is computing `wanted` and no other chunk is free."""
        with self.changed:
            while wanted not in self.done:
                if wanted not in self.held:  # nobody's, or the helper gave it back
                    self.next_free = max(self.next_free, wanted + 1)
                    return wanted
                if self.next_free <= self.last_free:
                    self.last_free -= 1
                    return self.last_free + 1
                if not self.changed.wait(timeout=STALL_S):
                    self.helper_stopped()  # no answer for that long: take its chunks back
            return None


class _Helper:
    """The child process and the thread that feeds it (writes chunks, reads answers)."""

    def __init__(self, parts: list, split: _Split):
        path = os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(HELPER_COMMAND, cwd=_ROOT, env={**os.environ, "PYTHONPATH": path}, bufsize=0,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:  # room for a whole answer, so the child never waits for this side to read it
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
            except (AttributeError, OSError):  # not Linux, or a lower limit: 64 kB pipes work too
                pass
        self.parts, self.split = parts, split
        self.thread = threading.Thread(target=self._feed, name="key-worker", daemon=True)
        self.thread.start()

    def _feed(self) -> None:
        waiting: deque[int] = deque()  # chunks written to the child, oldest first
        try:
            while True:
                # The child answers a chunk before it reads the next, so with two written it never
                # waits for this thread (which waits for the GIL while the inserting thread runs).
                while len(waiting) < AHEAD and (index := self.split.take_front()) is not None:
                    self._write(self._frame(index))
                    waiting.append(index)
                if not waiting:
                    break
                index = waiting.popleft()
                keys = self._receive()
                if len(keys) != len(self.parts[index]):
                    raise HelperStopped("the hashing helper answered for the wrong number of examples")
                self.split.answer(index, keys, by_helper=True)
        except Exception:  # a broken pipe, a dead child, a garbled answer: all mean the same here
            pass  # what the helper held goes back to the inserting thread, which hashes it
        finally:
            self.split.helper_stopped()
            try:
                self.proc.stdin.close()
            except OSError:
                pass

    def _frame(self, index: int) -> bytes:
        payload = pickle.dumps(self.parts[index], protocol=pickle.HIGHEST_PROTOCOL)
        return len(payload).to_bytes(_HEADER, "little") + payload

    def _write(self, payload: bytes) -> None:
        view = memoryview(payload)
        while view:  # a pipe write can be cut short (by a signal), and says how much it took
            view = view[self.proc.stdin.write(view):]

    def _receive(self) -> list:
        return decode_keys(self._read(int.from_bytes(self._read(_HEADER), "little")))

    def _read(self, size: int) -> bytes:
        parts, left = [], size
        while left:
            part = self.proc.stdout.read(left)
            if not part:
                raise HelperStopped("the hashing helper process ended")
            parts.append(part)
            left -= len(part)
        return b"".join(parts)

    def close(self) -> None:
        """End the child and the thread: the thread takes no more chunks; the child's input ends,
        so it exits when idle (one still at work after a second is killed); the thread's pipe
        reads and writes then fail, and it ends too."""
        self.split.helper_stopped()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.thread.join(timeout=5)
        self.proc.stdout.close()


def _start_helper(parts: list, split: _Split) -> "_Helper | None":
    if not HELPER_COMMAND[0]:  # no known interpreter (an embedded Python)
        return None
    try:
        return _Helper(parts, split)
    except OSError:
        return None


def hashed_chunks(texts: list[tuple], chunk: int = CHUNK):
    """(content_hash, norm_hash) of each text tuple, yielded a chunk (a list) at a time, in order.

    A generator: close it (contextlib.closing) so the helper process ends with it."""
    parts = [texts[start:start + chunk] for start in range(0, len(texts), chunk)]
    split = _Split(len(parts))
    helper = _start_helper(parts, split) if len(texts) >= PARALLEL_MIN else None
    if helper is None:
        split.helper_stopped()
    try:
        for wanted in range(len(parts)):
            while (job := split.next_job(wanted)) is not None:
                split.answer(job, both_hashes(parts[job]))
            with split.changed:
                keys = split.done.pop(wanted)
            yield keys
    finally:
        if helper is not None:
            helper.close()


class _TextsOnly(pickle.Unpickler):
    """An unpickler for the child's input: lists, tuples, text and None only."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"a frame may not name {module}.{name}")


def decode_texts(payload: bytes) -> list[tuple]:
    return _TextsOnly(io.BytesIO(payload)).load()


def encode_keys(keys: list[tuple[str, str]]) -> bytes:
    return "".join(exact + fold for exact, fold in keys).encode("ascii")


def decode_keys(payload: bytes) -> list[tuple[str, str]]:
    if len(payload) % _KEYS:
        raise HelperStopped("the hashing helper's answer was cut short")
    halves = iter(_HALF_KEY.findall(payload.decode("ascii")))
    return list(zip(halves, halves))


def serve(source, sink) -> None:
    """The child's loop: answer each frame of texts with a frame of their keys, until stdin ends."""
    while header := source.read(_HEADER):
        payload = encode_keys(both_hashes(decode_texts(source.read(int.from_bytes(header, "little")))))
        sink.write(len(payload).to_bytes(_HEADER, "little") + payload)
        sink.flush()


if __name__ == "__main__":
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except Exception:  # the parent notices the closed pipe and hashes the rest itself
        sys.exit(1)
