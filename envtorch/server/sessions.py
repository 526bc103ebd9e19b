"""Sessions: one env per session, its calls run one at a time, in the session's own thread.

Env calls are plain blocking functions, so each session owns a `SessionThread`: a slow `step()`
holds only its own session. The thread ends when the session has been idle for a second and
starts again with its next call, so sessions waiting for their agents hold no thread. A call
that exceeds the call timeout gets a `timeout` error; the session lets go of its env (which is
closed in its thread once the stuck call returns) and of that thread, and the next `reset`
builds a fresh env.

The exception: an env class that declares `nonblocking = True` (it only computes, like `EchoEnv`)
has its calls run right on the event loop, which saves the thread hop (about half of a quick
step's cost on the server). `envtorch.core.offload.Offload` decides call by call, as in the
Collector: after a call slower than 1 ms all the same (say, a transform that calls a remote
judge), the session's next calls go to its thread until enough of them in a row were quick, so a
mistaken declaration stalls the other sessions for one call, not for every call. Such an inline
call cannot be cut short by the call timeout. The env factory and `close()` run in the session's
thread (an env that the factory returns only after the call timeout is closed in another). Envs
that do not declare it, such as the sandboxed `PythonEnv`, never run on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

from envtorch.core import CannotFork, Environment, ResetNeeded
from envtorch.core.offload import Offload
from envtorch.server.limits import ServerLimits
from envtorch.wire import (
    CANNOT_FORK,
    ENV_ERROR,
    IDLE_TIMEOUT,
    RESET_NEEDED,
    SERVER_FULL,
    SESSION_IN_USE,
    TIMEOUT,
    UNKNOWN_SESSION,
    ServerError,
)

logger = logging.getLogger("envtorch.server")

EnvCall = Callable[[Environment], Any]


IDLE_THREAD_SECONDS = 1.0
"""Seconds a session's thread waits for its next call before it ends; the next call starts
another. A session waiting for its agent holds no thread, and starting one (about 0.1 ms) is
small next to the wait that let it end."""


class SessionThread:
    """Runs one session's calls in order in a daemon thread; results land in asyncio futures.

    The thread runs while calls come and ends after `IDLE_THREAD_SECONDS` without one; `submit`
    starts a new one when none runs, so idle sessions hold no thread. Made on the event loop,
    whose futures it completes. A caller that stops waiting (the call timeout) completes the
    future itself; the call's late outcome is then dropped.
    """

    def __init__(self, name: str) -> None:
        self._loop = asyncio.get_running_loop()
        self._name = name
        self._calls: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._running = threading.Lock()
        self._thread_alive = False

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `call`; the future gets its result or its exception."""
        future = self._loop.create_future()
        self._calls.put((future, call))
        self._ensure_thread()
        return future

    def stop(self) -> None:
        """End the thread after the calls already queued (none are when no thread runs)."""
        with self._running:
            if not self._thread_alive:
                return
        self._calls.put(None)

    def _ensure_thread(self) -> None:
        with self._running:
            if self._thread_alive:
                return
            self._thread_alive = True
        threading.Thread(target=self._run, name=self._name, daemon=True).start()

    def _run(self) -> None:
        while (queued := self._next_call()) is not None:
            future, call = queued
            try:
                result, error = call(), None
            except BaseException as exception:
                result, error = None, exception
            try:
                self._loop.call_soon_threadsafe(_complete, future, result, error)
            except RuntimeError:
                return

    def _next_call(self) -> tuple[asyncio.Future[Any], Callable[[], Any]] | None:
        """The next call, or None when the thread should end: stopped, or idle for long enough.

        The idle check and `submit`'s start of a thread take the same lock, so a call queued
        while this thread ends finds a thread to run it.
        """
        while True:
            try:
                return self._calls.get(timeout=IDLE_THREAD_SECONDS)
            except queue.Empty:
                with self._running:
                    if self._calls.empty():
                        self._thread_alive = False
                        return None


def _complete(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a call's outcome to its future, unless the caller gave up waiting for it."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Session:
    """One client's episode: its env (built on the first reset) and the thread that runs it."""

    def __init__(
        self,
        session_id: str,
        on_reap: Callable[[ServerError], Any] | None,
        offload: Callable[[Session], Offload],
        render_mode: str | None = None,
        outlives_connection: bool = False,
    ) -> None:
        self.id = session_id
        self.env: Environment | None = None
        self.lock = asyncio.Lock()
        self.last_active = time.monotonic()
        self.on_reap = on_reap
        self.attached = on_reap is not None
        self.closed = False
        self.thread: SessionThread | None = None
        self.lost_env_reason: str | None = None
        self.render_mode = render_mode
        self.outlives_connection = outlives_connection
        self.offload = offload(self)

    def touch(self) -> None:
        """Record activity, which keeps the reaper away."""
        self.last_active = time.monotonic()

    def run_in_thread(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `call` in the session's thread, starting one when the session has none."""
        if self.thread is None:
            self.thread = SessionThread(f"envtorch-session-{self.id[:8]}")
        return self.thread.submit(call)


class SessionManager:
    """Creates, finds, runs, reaps and closes sessions within the server's `ServerLimits`."""

    def __init__(
        self,
        env_factory: Callable[..., Environment],
        limits: ServerLimits,
        *,
        nonblocking: bool = False,
    ) -> None:
        self.env_factory = env_factory
        self.limits = limits
        self.nonblocking = nonblocking
        self.sessions: dict[str, Session] = {}

    def open(
        self,
        on_reap: Callable[[ServerError], Any] | None = None,
        render_mode: str | None = None,
        *,
        outlives_connection: bool = False,
    ) -> Session:
        """A new session, or a `server_full` error when `max_sessions` are open.

        With a `render_mode` the session's env is built with it; else as the factory builds it.
        `on_reap` is called with the reason when the reaper closes the session: the session's
        connection is then attached to it (see `attach`). A session that `outlives_connection`
        (an MCP session) stays open when a connection attached to it ends (see `release`).
        """
        self._require_room(1)
        session = Session(
            secrets.token_hex(16), on_reap, self._offload, render_mode, outlives_connection
        )
        self.sessions[session.id] = session
        return session

    def attach(self, session_id: str, on_reap: Callable[[ServerError], Any]) -> Session:
        """The open session `session_id` for a connection that has none (a fork's session made
        for another connection, or an MCP session), or `unknown_session`, or `session_in_use`
        when one has it."""
        session = self.get(session_id)
        if session.attached:
            raise ServerError(
                SESSION_IN_USE,
                f"session {session_id!r} already has a connection; one connection per session",
            )
        session.attached, session.on_reap = True, on_reap
        session.touch()
        return session

    async def release(self, session: Session) -> None:
        """The connection attached to `session` ended: close the session, or, when it
        `outlives_connection`, leave it open for another connection (or the reaper)."""
        if not session.outlives_connection:
            await self.close(session)
            return
        session.attached, session.on_reap = False, None
        session.touch()

    async def fork(self, session: Session, count: int) -> list[Session]:
        """`count` new sessions, each holding a copy of the session's running episode
        (`Environment.fork`), counted against `max_sessions` and reaped like the others."""
        self._require_room(count)
        envs: list[Environment] = await self.call(session, lambda env: env.fork(count))
        try:
            self._require_room(count)
        except ServerError:
            await asyncio.to_thread(_close_quietly, *envs)
            raise
        forks = []
        for env in envs:
            fork = Session(secrets.token_hex(16), None, self._offload, session.render_mode)
            fork.env = env
            self.sessions[fork.id] = fork
            forks.append(fork)
        return forks

    def get(self, session_id: str) -> Session:
        """The open session `session_id`, or an `unknown_session` error."""
        session = self.sessions.get(session_id)
        if session is None:
            raise _unknown_session(session_id)
        return session

    async def reset(self, session: Session, call: EnvCall) -> Any:
        """Run `call` on the session's env, building the env first when it has none."""
        async with session.lock:
            _require_open(session)
            if session.env is None:
                session.env = await self._build_env(session)
                session.lost_env_reason = None
            env = session.env
            return await self._run(session, lambda: call(env))

    async def call(self, session: Session, call: EnvCall) -> Any:
        """Run `call` on the session's env in its thread, within the call timeout."""
        async with session.lock:
            _require_open(session)
            env = session.env
            if env is None:
                raise ServerError(
                    RESET_NEEDED, session.lost_env_reason or "no episode yet: send reset first"
                )
            return await self._run(session, lambda: call(env))

    async def close(self, session: Session) -> None:
        """Close the session's env, waiting for its `close()`, and forget it. Idempotent."""
        if session.closed:
            return
        session.closed = True
        self.sessions.pop(session.id, None)
        async with session.lock:
            closing = self._discard_env(session)
            if closing is not None:
                await closing

    async def close_all(self, grace: float = 5.0) -> None:
        """Close every session; a session busy for longer than `grace` seconds is let go."""
        sessions = list(self.sessions.values())
        await asyncio.gather(*(self._close_within(session, grace) for session in sessions))

    async def reap_forever(self) -> None:
        """Close sessions idle for longer than `idle_timeout`, checking a few times per timeout."""
        idle_timeout = self.limits.idle_timeout
        if idle_timeout is None:
            return
        while True:
            await asyncio.sleep(min(idle_timeout / 4, 10.0))
            await self.reap(idle_timeout)

    async def reap(self, idle_timeout: float) -> None:
        """Close every session that is not busy and was idle for longer than `idle_timeout`."""
        deadline = time.monotonic() - idle_timeout
        for session in list(self.sessions.values()):
            if session.lock.locked() or session.last_active > deadline:
                continue
            error = ServerError(
                IDLE_TIMEOUT, f"session closed after {idle_timeout:g} s without a message"
            )
            await self.close(session)
            if session.on_reap is not None:
                await session.on_reap(error)

    async def _close_within(self, session: Session, grace: float) -> None:
        try:
            await asyncio.wait_for(self.close(session), grace)
        except TimeoutError:
            logger.warning("session %s still busy after %.1f s at shutdown", session.id, grace)

    def _offload(self, session: Session) -> Offload:
        """Where the session's calls run: its thread, within the call timeout, or the loop."""
        return Offload(self.nonblocking, lambda call: self._in_thread(session, call))

    async def _build_env(self, session: Session) -> Environment:
        """A new env from the factory, built in the session's thread within the call timeout.

        An env that the factory returns after the timeout is closed in that thread: the close
        queued at the timeout runs after the factory, and finds the env in `built`.
        """
        built: list[Environment] = []

        def build() -> Environment:
            built.append(_as_server_errors(lambda: self._new_env(session)))
            return built[0]

        return await self._in_thread(session, build, built)

    def _new_env(self, session: Session) -> Environment:
        if session.render_mode is None:
            return self.env_factory()
        return self.env_factory(render_mode=session.render_mode)

    async def _run(self, session: Session, call: Callable[[], Any]) -> Any:
        """Run `call` as the session's `Offload` decides: on the loop, or in its thread."""
        session.touch()
        try:
            return await session.offload(lambda: _as_server_errors(call))
        finally:
            session.touch()

    async def _in_thread(
        self, session: Session, call: Callable[[], Any], built: list[Environment] | None = None
    ) -> Any:
        """Run `call` in the session's thread; after the call timeout, give up its env and thread.

        `built` holds an env that a call still building it will have made, to be closed then.
        """
        future = session.run_in_thread(call)
        timer = asyncio.get_running_loop().call_later(self.limits.call_timeout, _give_up, future)
        try:
            return await future
        except TimeoutError:
            raise self._timed_out(session, built) from None
        finally:
            timer.cancel()

    def _timed_out(self, session: Session, built: list[Environment] | None) -> ServerError:
        """Give up the session's env after a call outlived the call timeout; the error to send."""
        self._discard_env(session, built)
        timeout = self.limits.call_timeout
        session.lost_env_reason = (
            f"the previous call exceeded the call timeout of {timeout:g} s"
            " and its environment was discarded; send reset to start a fresh one"
        )
        return ServerError(
            TIMEOUT,
            f"the environment did not answer within {timeout:g} s;"
            " send reset to start a fresh environment",
        )

    def _discard_env(
        self, session: Session, built: list[Environment] | None = None
    ) -> asyncio.Future | None:
        """Close the env in its thread after any call still running there, then end the thread.

        The envs in `built` are closed too, read once that call has returned. Returns the future
        of the envs' `close()` to wait for, if there is one.
        """
        env, thread = session.env, session.thread
        session.env, session.thread = None, None
        envs = [env] if env is not None else []
        if thread is None:
            _close_quietly(*envs)
            return None
        closing = None
        if envs or built is not None:
            closing = thread.submit(lambda: _close_quietly(*envs, *(built or [])))
        thread.stop()
        return closing

    def _require_room(self, count: int) -> None:
        """Raise `server_full` unless `count` more sessions fit within `max_sessions`."""
        open_sessions, limit = len(self.sessions), self.limits.max_sessions
        if open_sessions + count > limit:
            wanted = "one more session" if count == 1 else f"{count} more sessions"
            raise ServerError(
                SERVER_FULL,
                f"server full: {open_sessions} of {limit} sessions in use, no room for {wanted};"
                " close sessions, retry later, or raise max_sessions (--max-sessions)",
            )


def _unknown_session(session_id: str) -> ServerError:
    return ServerError(
        UNKNOWN_SESSION,
        f"unknown session {session_id!r}: it was closed, reaped, or never existed;"
        " start a new one with reset",
    )


def _require_open(session: Session) -> None:
    """Refuse a call that waited for the lock while the session was being closed."""
    if session.closed:
        raise _unknown_session(session.id)


def _as_server_errors(call: Callable[[], Any]) -> Any:
    """Run an env call, turning whatever it raises into a `ServerError` the client can read."""
    try:
        return call()
    except ServerError:
        raise
    except ResetNeeded as error:
        raise ServerError(RESET_NEEDED, str(error)) from None
    except CannotFork as error:
        raise ServerError(CANNOT_FORK, str(error)) from None
    except BaseException as error:
        logger.warning("environment call failed", exc_info=True)
        raise ServerError(ENV_ERROR, f"{type(error).__name__}: {error}") from None


def _give_up(future: asyncio.Future[Any]) -> None:
    """The call timeout: fail a call's future unless it already has its outcome."""
    if not future.done():
        future.set_exception(TimeoutError())


def _close_quietly(*envs: Environment) -> None:
    for env in envs:
        try:
            env.close()
        except BaseException:
            logger.warning("closing an environment failed", exc_info=True)
