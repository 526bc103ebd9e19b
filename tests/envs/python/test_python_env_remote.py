import asyncio
import json
import os
import secrets

import pytest
from websockets.sync.client import connect

from envtorch import ResetNeeded
from envtorch.client import AsyncEnvClient, EnvClient, ServerError
from envtorch.envs.math import AnswerReward
from envtorch.envs.python import CodeAction, CodeObservation, PythonEnv
from envtorch.providers import LocalProcessProvider
from envtorch.sandbox import ExceptionInfo
from envtorch.sandbox.watchdog import process_tree
from envtorch.server import ServerLimits, create_app, serve_in_thread
from envtorch.wire import SUBPROTOCOL
from tests.waiting import gone, wait_until

pytestmark = pytest.mark.timeout(90)

EPISODES = 32


def code(text: str) -> CodeAction:
    return CodeAction(code=text)


@pytest.fixture(scope="module")
def url():
    app = create_app(lambda: PythonEnv(step_timeout=5.0, transform=AnswerReward()))
    with serve_in_thread(app) as server_url:
        yield server_url


@pytest.fixture(scope="module")
def impatient_url():
    with serve_in_thread(create_app(lambda: PythonEnv(step_timeout=0.5))) as server_url:
        yield server_url


def test_episode_state_persists_over_the_websocket(url):
    with EnvClient(url, PythonEnv) as env:
        first = env.reset(seed=3, task={"prompt": "define things"})
        assert isinstance(first, CodeObservation) and first.prompt == "define things"
        env.step(code("total = 40\ndef add(a, b):\n    return a + b"))
        observation = env.step(code("print('adding')\nadd(total, 2)"))
        assert isinstance(observation, CodeObservation)
        assert observation.value == 42 and observation.stdout == "adding\n"
        assert observation.success and not observation.done
        failed = env.step(code("add(total)"))
        assert isinstance(failed.exception, ExceptionInfo)
        assert failed.exception.type == "TypeError" and "add()" in failed.exception.message
        assert "add(total)" in failed.exception.traceback and not failed.success
        assert env.step(code("total")).value == 40
        assert env.state.step_count == 4


def test_a_client_without_the_env_class_reads_the_same_observation(url):
    with EnvClient(url) as env:
        env.reset()
        failed = env.step(env.action_type(code="missing_name"))
        assert failed.exception["type"] == "NameError" and failed.success is False


def test_async_client_keeps_its_episode(url):
    async def episode():
        async with AsyncEnvClient(url, PythonEnv) as env:
            await env.reset()
            await env.step(code("import math\nradius = 2"))
            observation = await env.step(code("round(math.pi * radius ** 2, 3)"))
            state = await env.state()
            return observation, state

    observation, state = asyncio.run(episode())
    assert isinstance(observation, CodeObservation) and observation.value == 12.566
    assert state.step_count == 2


async def secret_keeper(url: str, number: int) -> dict:
    secret = secrets.token_hex(8)
    async with AsyncEnvClient(url, PythonEnv) as env:
        first = await env.reset(task={"prompt": f"episode {number}"})
        setup = f"secret = {secret!r}\nseen = [secret]\nfile_write('mine.txt', secret)"
        await env.step(code(setup))
        values = []
        for _ in range(3):
            observation = await env.step(code("seen.append(secret)\nsecret"))
            values.append(observation.value)
        last = await env.step(code("(len(seen), list_files(), file_read('mine.txt'))"))
    return {"secret": secret, "prompt": first.prompt, "values": values, "last": last.value}


def test_32_concurrent_episodes_never_share_state(url):
    async def run_all():
        return await asyncio.gather(*(secret_keeper(url, n) for n in range(EPISODES)))

    results = asyncio.run(run_all())
    assert len({result["secret"] for result in results}) == EPISODES
    for number, result in enumerate(results):
        secret = result["secret"]
        assert result["prompt"] == f"episode {number}"
        assert result["values"] == [secret] * 3
        assert result["last"] == [4, ["mine.txt"], secret]


def test_timeouts_and_a_hard_kill_spare_the_server_and_other_episodes(impatient_url):
    url = impatient_url

    async def bystander(hang: asyncio.Task) -> list:
        async with AsyncEnvClient(url, PythonEnv) as env:
            await env.reset()
            await env.step(code("count = 0"))
            values = []
            for _ in range(5):
                values.append((await env.step(code("count += 1\ncount"))).value)
            values.append(hang.done())
            await hang
            values.append((await env.step(code("count"))).value)
            return values

    async def hanging(env: AsyncEnvClient) -> CodeObservation:
        return await env.step(code("sum(range(10 ** 13))"))

    async def scenario():
        async with AsyncEnvClient(url, PythonEnv) as env:
            await env.reset()
            await env.step(code("kept = 'yes'"))
            soft = await env.step(code("while True:\n    pass"))
            kept = await env.step(code("kept"))
            hang = asyncio.create_task(hanging(env))
            others = await asyncio.gather(*(bystander(hang) for _ in range(3)))
            killed = await hang
            with pytest.raises(ResetNeeded):
                await env.step(code("kept"))
            await env.reset()
            fresh = await env.step(code("'kept' in globals(), 6 * 7"))
            return soft, kept, killed, others, fresh

    soft, kept, killed, others, fresh = asyncio.run(scenario())
    assert soft.timed_out and not soft.killed and not soft.done
    assert soft.exception is not None and kept.value == "yes"
    assert killed.killed and killed.done and killed.truncated
    assert killed.exception.type == "SessionKilled"
    assert others == [[1, 2, 3, 4, 5, False, 5]] * 3
    assert fresh.value == [False, 42]


def test_a_server_call_timeout_discards_the_stuck_env_and_its_sandbox():
    app = create_app(lambda: PythonEnv(step_timeout=0.3), limits=ServerLimits(call_timeout=1.0))
    with serve_in_thread(app) as server_url, EnvClient(server_url, PythonEnv) as env:
        env.reset()
        (session,) = app.state.sessions.sessions.values()
        sandbox_pid = session.env._session.pid
        with EnvClient(server_url, PythonEnv) as bystander:
            bystander.reset()
            bystander.step(code("x = 'still here'"))
            with pytest.raises(ServerError) as timeout:
                env.step(code("sum(range(10 ** 13))"))
            assert timeout.value.code == "timeout"
            assert env.episode_over
            with pytest.raises(ResetNeeded, match="call timeout"):
                env.step(code("1"))
            assert env.reset().success
            assert env.step(code("2 + 2")).value == 4
            assert bystander.step(code("x")).value == "still here"
        assert wait_until(lambda: gone(sandbox_pid), timeout=20)


def test_the_math_answer_never_reaches_the_client(url):
    answer = 7006652
    task = {"question": "What is 1234 * 5678?", "answer": answer}
    hidden = str(answer)
    probe = (
        "def _probe():\n"
        "    import os\n"
        "    needle = '2566007'[::-1]\n"
        "    hay = repr(globals()) + repr(dict(os.environ)) + repr(list_files())\n"
        "    for root, _, names in os.walk('/tmp'):\n"
        "        for name in names:\n"
        "            with open(os.path.join(root, name), errors='replace') as f:\n"
        "                hay += f.read()\n"
        "    return needle in hay\n"
        "_probe()"
    )
    with connect(
        url.replace("http://", "ws://") + "/ws", compression=None, subprotocols=[SUBPROTOCOL]
    ) as socket:

        def ask(kind: str, data: dict) -> dict:
            socket.send(json.dumps({"type": kind, "data": data, "id": kind}))
            raw = socket.recv(timeout=30)
            assert hidden not in raw and '"answer"' not in raw
            return json.loads(raw)["data"]

        first = ask("reset", {"task": task})
        wrong = ask("step", {"code": "1234 + 5678"})
        searched = ask("step", {"code": probe})
        socket.send(json.dumps({"type": "step", "data": {"code": "1234 * 5678"}, "id": 4}))
        right = json.loads(socket.recv(timeout=30))["data"]
    assert first["observation"]["prompt"] == task["question"]
    assert wrong["reward"] == 0.0 and not wrong["done"]
    assert searched["observation"]["value"] is False and searched["reward"] == 0.0
    assert right["reward"] == 1.0 and right["done"]


def test_envtorch_serve_python_starts_without_a_sandbox_and_leaves_nothing():
    with LocalProcessProvider("python", max_sessions=4) as server:
        pid = server.process.pid
        assert descendants(pid) == set()
        with server.client(PythonEnv) as env:
            env.reset()
            env.step(code("word = 'persisted'"))
            assert env.step(code("word.upper()")).value == "PERSISTED"
            spawned = descendants(pid)
            assert spawned
    assert wait_until(lambda: all(gone(child) for child in spawned | {pid}), timeout=20)


def descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from the parent links in /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] not in ("Z", "X"):
                parents[int(entry)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier}
        found |= frontier
    return found


def test_a_forged_result_frame_reaches_the_client_capped(url):
    """A session's forged result near the frame limit once sent an 18 MiB reply and left the
    server holding a gigabyte; the host caps every field before keeping it."""
    forge = (
        "import gc, sys\n"
        "from guest.channel import HEADER\n"
        "worker = next(o for o in gc.get_objects() if type(o).__name__ == 'Interpreter')\n"
        "step = int(sys._getframe().f_code.co_filename.strip('<>').split()[1])\n"
        'head = b\'{"type":"result","id":%d,"stderr":"","stdout":"\' % step\n'
        "body = head + b'x' * 1500000 + b'\",\"value\":[' + b'[],' * 500000 + b'[]]}'\n"
        "worker._sock.sendall(HEADER.pack(len(body)) + body)"
    )
    with connect(
        url.replace("http://", "ws://") + "/ws", compression=None, subprotocols=[SUBPROTOCOL]
    ) as socket:
        socket.send(json.dumps({"type": "reset", "data": {}}))
        socket.recv(timeout=30)
        socket.send(json.dumps({"type": "step", "data": {"code": forge}, "id": 1}))
        raw = socket.recv(timeout=30)
        observation = json.loads(raw)["data"]["observation"]
        assert len(raw) < 256 * 1024
        assert observation["value"].startswith("[value dropped:")
        socket.send(json.dumps({"type": "step", "data": {"code": "'alive'"}, "id": 2}))
        assert json.loads(socket.recv(timeout=30))["data"]["observation"]["value"] == "alive"


@pytest.mark.parametrize("stop", ["shutdown", "SIGKILL"])
def test_a_stopped_server_leaves_no_process_whatever_its_sessions_do(stop):
    """Server shutdown, or the server killed outright, ends every zygote, bwrap and session
    process, even with sessions that forked, ignore signals or sit in a long step."""
    with LocalProcessProvider("python") as server:
        clients = [server.client(PythonEnv) for _ in range(3)]
        for env in clients:
            env.reset()
        clients[0].step(
            code(
                "import signal, subprocess\n"
                "subprocess.Popen(['sleep', '600'], start_new_session=True,\n"
                "                 preexec_fn=lambda: signal.signal(signal.SIGTERM, 1))"
            )
        )
        clients[1].step(code("import os\nif os.fork() == 0:\n    import time; time.sleep(600)"))
        tree = process_tree(server.process.pid)
        assert len(tree) >= 8
        if stop == "SIGKILL":
            server.process.kill()
        server.stop()
        for env in clients:
            env.close()
    assert wait_until(lambda: all(gone(pid) for pid in tree))
