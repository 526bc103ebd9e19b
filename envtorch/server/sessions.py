"""Sessions: one env per session, its calls run one at a time, on worker threads.

Env calls are plain blocking functions, so a session's calls queue in its `SessionQueue` and run
in order on the server's shared `Workers`: a slow `step()` holds one worker and its own session,
never the others, and a session waiting for its agent holds no thread. Workers end after a second
idle. A call that exceeds the call timeout gets a `timeout` error; the session lets go of its env
(which is closed once the stuck call returns) and of its queue, and the next `reset` builds a
fresh env.

The exception: an env class that declares `nonblocking = True` (it only computes, like `EchoEnv`)
has its calls run right on the event loop, which saves the thread hop (about half of a quick
step's cost on the server). `envtorch.core.offload.Offload` decides call by call, as in the
Collector: after a call slower than 1 ms all the same (say, a transform that calls a remote
judge), the session's next calls go to a worker until enough of them in a row were quick, so a
mistaken declaration stalls the other sessions for one call, not for every call. Such an inline
call cannot be cut short by the call timeout. The env factory and `close()` run on a worker
(an env that the factory returns only after the call timeout is closed there too). Envs that do
not declare it, such as the sandboxed `PythonEnv`, never run on the loop.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
import threading
import time
from collections import deque
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
"""Seconds a worker thread waits for its next call before it ends. A call that finds no worker
idle starts one, which blocks the event loop until the thread runs (0.1 ms on a quiet machine,
milliseconds on a loaded one); shared workers make that rare, since many sessions stepping a
quick call each keep only a few workers busy, and sessions waiting for their agents hold none."""


class Workers:
    """Threads shared by every session of a server, each running one job at a time.

    A job goes to an idle worker, or to a new one when every idle worker already has a job
    waiting for it, so no job waits behind another; a worker idle for `IDLE_THREAD_SECONDS`
    ends, and only while no job is queued.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._jobs: deque[Callable[[], None]] = deque()
        self._idle = 0
        self._lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._numbers = itertools.count()

    def run(self, job: Callable[[], None]) -> None:
        """Run `job` on an idle worker, or on a new one."""
        with self._lock:
            self._jobs.append(job)
            if len(self._jobs) <= self._idle:
                self._queued.notify()
                return
        name = f"{self._name}-{next(self._numbers)}"
        threading.Thread(target=self._work, name=name, daemon=True).start()

    def _work(self) -> None:
        while (job := self._next_job()) is not None:
            job()

    def _next_job(self) -> Callable[[], None] | None:
        """The next job, or None when the worker should end, idle for long enough."""
        with self._lock:
            deadline = time.monotonic() + IDLE_THREAD_SECONDS
            self._idle += 1
            try:
                while not self._jobs:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    self._queued.wait(remaining)
                return self._jobs.popleft()
            finally:
                self._idle -= 1


class SessionQueue:
    """Runs one session's calls in order, one at a time, on the shared `Workers`; results land
    in asyncio futures.

    Made on the event loop, whose futures it completes. While calls are queued, one worker runs
    them; the session holds no worker otherwise. A caller that stops waiting (the call timeout)
    completes the future itself; the call's late outcome is then dropped.
    """

    def __init__(self, workers: Workers) -> None:
        self._loop = asyncio.get_running_loop()
        self._workers = workers
        self._calls: deque[tuple[asyncio.Future[Any], Callable[[], Any]]] = deque()
        self._lock = threading.Lock()
        self._running = False

    def submit(self, call: Callable[[], Any]) -> asyncio.Future[Any]:
        """Queue `call`; the future gets its result or its exception."""
        future = self._loop.create_future()
        with self._lock:
            self._calls.append((future, call))
            if self._running:
                return future
            self._running = True
        self._workers.run(self._run)
        return future

    def _run(self) -> None:
        """Run the queued calls in order until none is left."""
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
        with self._lock:
            if not self._calls:
                self._running = False
                return None
            return self._calls.popleft()


def _complete(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a call's outcome to its future, unless the caller gave up waiting for it."""
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class Session:
    """One client's episode: its env (built on the first reset) and the queue of its calls."""

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
        self.calls: SessionQueue | None = None
        self.lost_env_reason: str | None = None
        self.render_mode = render_mode
        self.outlives_connection = outlives_connection
        self.offload = offload(self)

    def touch(self) -> None:
        """Record activity, which keeps the reaper away."""
        self.last_active = time.monotonic()


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
        self._workers = Workers("envtorch-session")

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
        session = self.unattached(session_id)
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

    def unattached(self, session_id: str) -> Session:
        """The open session `session_id` when no connection holds it, as a new connection or an
        HTTP call needs it: `unknown_session`, or `session_in_use` when a connection holds it."""
        session = self.get(session_id)
        if session.attached:
            raise ServerError(
                SESSION_IN_USE,
                f"session {session_id!r} already has a connection; one connection per session",
            )
        return session

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
        """Run `call` on the session's env on a worker, within the call timeout."""
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
        """Where the session's calls run: on a worker, within the call timeout, or the loop."""
        return Offload(self.nonblocking, lambda call: self._in_thread(session, call))

    async def _build_env(self, session: Session) -> Environment:
        """A new env from the factory, built on a worker within the call timeout.

        An env that the factory returns after the timeout is closed there: the close
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
        """Run `call` as the session's `Offload` decides: on the loop, or on a worker."""
        session.touch()
        try:
            return await session.offload(lambda: _as_server_errors(call))
        finally:
            session.touch()

    async def _in_thread(
        self, session: Session, call: Callable[[], Any], built: list[Environment] | None = None
    ) -> Any:
        """Run `call` after the session's earlier calls; after the call timeout, give up its env
        and its queue.

        `built` holds an env that a call still building it will have made, to be closed then.
        """
        if session.calls is None:
            session.calls = SessionQueue(self._workers)
        future = session.calls.submit(call)
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
        """Close the env after any call of the session still running, and let go of the
        session's queue of calls: its next call starts a fresh one.

        The envs in `built` are closed too, read once that call has returned. Returns the future
        of the envs' `close()` to wait for, if there is one.
        """
        env, calls = session.env, session.calls
        session.env, session.calls = None, None
        envs = [env] if env is not None else []
        if calls is None:
            _close_quietly(*envs)
            return None
        if envs or built is not None:
            return calls.submit(lambda: _close_quietly(*envs, *(built or [])))
        return None

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
