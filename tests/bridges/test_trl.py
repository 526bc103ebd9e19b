"""`to_trl`: envtorch envs as TRL's `environment_factory`, checked against the real `trl` package
(a `GRPOTrainer` on CPU with a tiny model made here) and a served `python-math`."""

import gc
import json
import pickle
import urllib.request
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import pytest

from envtorch import (
    Action,
    AsyncEnvClient,
    EnvClient,
    Environment,
    LocalProcessProvider,
    Observation,
    ResetNeeded,
    State,
    ValidationError,
    to_trl,
)
from envtorch.bridges.trl import EPISODE_OVER, TRLEnvironment
from envtorch.envs.math import MathEnv
from envtorch.envs.python import PythonEnv, python_math
from tests.waiting import wait_until

trl = pytest.importorskip("trl", reason="the trl extra brings TRL and transformers")
get_json_schema = pytest.importorskip("transformers.utils").get_json_schema

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TASKS = [
    {"question": "What is 6 * 7?", "answer": "42"},
    {"question": "What is 12 + 30?", "answer": "42"},
    {"question": "What is 9 - 4?", "answer": "5"},
    {"question": "What is 5 * 5?", "answer": "25"},
]
CODE_TOOL = {
    "type": "function",
    "function": {
        "name": "code",
        "description": "Python source to run in the episode's namespace.",
        "parameters": {
            "type": "object",
            "properties": {"code": {"type": "string", "description": "The action's code."}},
            "required": ["code"],
        },
        "return": {"type": "string"},
    },
}


@pytest.fixture(scope="module")
def recording_math(tmp_path_factory):
    """A served python-math (two steps an episode) writing down every reset's task and every
    step's reward: its URL and that record's path."""
    record = tmp_path_factory.mktemp("trl") / "record.jsonl"
    record.touch()
    target = "tests.bridges.trl_envs:RecordingMathEnv"
    with LocalProcessProvider(target, kwarg=f"record={record}") as server:
        yield server.url, record


@pytest.fixture
def torch_on_one_thread():
    """torch, computing on one thread for the test: a tiny model's many small ops run several
    times slower on more threads when the cores are shared (as by the suite's workers)."""
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def tools_of(environment: TRLEnvironment) -> list:
    """The bound methods TRL takes as tools: the class's public functions but two."""
    names = [name for name in vars(type(environment)) if not name.startswith("_")]
    return [getattr(environment, name) for name in names]


def sessions(url: str) -> int:
    with urllib.request.urlopen(f"{url}/health", timeout=10) as reply:
        return json.load(reply)["sessions"]


def test_a_python_env_is_one_code_tool_with_the_schema_of_its_action():
    environment = to_trl(python_math)()
    assert type(environment).__name__ == "CodeEnvironment"
    assert [get_json_schema(tool) for tool in tools_of(environment)] == [CODE_TOOL]


def test_an_episode_shows_the_question_takes_code_and_scores_it_by_the_envs_transforms():
    environment = to_trl(partial(python_math, max_steps=3))()
    assert environment.reset(**TASKS[0]) == "What is 6 * 7?"
    assert environment.code(code="x = 6 * 7") == ""
    assert environment.code(code="print(x - 1)") == "41\n"
    assert environment.get_reward() == 0.0
    assert environment.code(code="x") == '{"value":42}\n' + EPISODE_OVER
    assert environment.get_reward() == 1.0
    with pytest.raises(ResetNeeded, match="no episode is running"):
        environment.code(code="x")
    assert environment.reset(**TASKS[2]) == "What is 9 - 4?"
    assert environment.get_reward() == 0.0


def test_the_step_budget_ends_the_episode_as_the_env_says():
    environment = to_trl(partial(python_math, max_steps=1))()
    environment.reset(**TASKS[3])
    assert environment.code(code="5 * 5 - 1") == '{"value":24}\n' + EPISODE_OVER
    assert environment.get_reward() == 0.0


def test_arguments_that_do_not_fit_the_action_raise_and_the_episode_goes_on():
    environment = to_trl(MathEnv)()
    environment.reset(**TASKS[1])
    with pytest.raises(ValidationError, match="Expected `str`, got `int`"):
        environment.math_answer(answer=42)
    with pytest.raises(ValidationError, match="unknown field"):
        environment.math_answer(answer="42", confidence=1.0)
    assert environment.math_answer(answer="42").endswith(EPISODE_OVER)
    assert environment.get_reward() == 1.0


@dataclass(kw_only=True)
class Move(Action):
    """Move the marker along the line."""

    direction: Literal["left", "right"]
    steps: int = 1


@dataclass(kw_only=True)
class Position(Observation):
    position: int = 0
    goal: int = 0


class LineEnv(Environment[Move, Position, State]):
    """Reach position 3 on a line."""

    action_type = Move
    observation_type = Position
    state_type = State

    def _reset(self, *, seed, task):
        self.position = 0
        return Position(goal=3)

    def _step(self, action):
        self.position += action.steps if action.direction == "right" else -action.steps
        if action.steps > 5:
            raise RuntimeError("the marker fell off")
        return Position(position=self.position, goal=3, reward=1.0, done=self.position == 3)


def test_a_typed_env_gets_a_tool_whose_arguments_are_its_actions_fields():
    environment = to_trl(LineEnv)()
    [tool] = tools_of(environment)
    assert get_json_schema(tool)["function"] == {
        "name": "move",
        "description": "Move the marker along the line.",
        "parameters": {
            "type": "object",
            "properties": {
                "direction": {
                    "type": "string",
                    "enum": ["left", "right"],
                    "description": "The action's direction.",
                },
                "steps": {"type": "integer", "description": "The action's steps."},
            },
            "required": ["direction"],
        },
        "return": {"type": "string"},
    }
    assert environment.reset() == '{"goal":3}'
    assert environment.move(direction="right") == '{"position":1,"goal":3}'
    assert environment.move(direction="right", steps=2).endswith(EPISODE_OVER)
    assert environment.get_reward() == 2.0


def test_a_failed_env_side_leaves_the_episode_unrewarded_and_the_next_reset_makes_a_new_handle():
    made = []

    def envs():
        made.append(LineEnv())
        return made[-1]

    environment = to_trl(envs)()
    environment.reset()
    environment.move(direction="left")
    with pytest.raises(RuntimeError, match="fell off"):
        environment.move(direction="right", steps=9)
    assert environment.get_reward() is None
    with pytest.raises(ResetNeeded, match="the env failed: RuntimeError"):
        environment.move(direction="right")
    assert len(made) == 1 and made[0]._closed
    environment.reset()
    assert len(made) == 2 and environment.get_reward() == 0.0


def test_the_factory_pickles_and_makes_one_class_per_tool_also_from_a_servers_schema(
    recording_math,
):
    url, _ = recording_math
    factory = pickle.loads(pickle.dumps(to_trl(partial(EnvClient, url))))
    first, second = factory(), factory()
    assert type(first) is type(second)
    assert first.reset(**TASKS[2]) == "What is 9 - 4?"
    assert first.code(code="9 - 4").endswith(EPISODE_OVER) and first.get_reward() == 1.0


def test_async_handles_and_what_is_no_env_handle_are_refused(recording_math):
    url, _ = recording_math
    with pytest.raises(TypeError, match="make an EnvClient"):
        to_trl(partial(AsyncEnvClient, url, PythonEnv))()
    with pytest.raises(TypeError, match="a factory of env handles"):
        to_trl(PythonEnv())
    with pytest.raises(TypeError, match="without reset"):
        to_trl(dict)()


def test_the_session_closes_when_trl_drops_the_environment(recording_math):
    url, _ = recording_math
    before = sessions(url)
    environment = to_trl(partial(EnvClient, url, PythonEnv))()
    environment.reset(**TASKS[0])
    assert sessions(url) == before + 1
    del environment
    gc.collect()
    assert wait_until(lambda: sessions(url) == before)


def test_grpo_trainer_trains_on_a_served_python_math_through_the_factory(
    recording_math, tmp_path, torch_on_one_thread
):
    torch = torch_on_one_thread
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    url, record = recording_math
    factory = to_trl(partial(EnvClient, url, PythonEnv))
    tokenizer = _tokenizer()
    model = _warmed_up_model(tokenizer, torch)
    shown: list[str] = []

    class WatchedTrainer(GRPOTrainer):
        def _tokenize_prompts(self, prompts):
            tokenized = super()._tokenize_prompts(prompts)
            shown.extend(self.processing_class.decode(ids) for ids in tokenized[0])
            return tokenized

    open_before, resets_before = sessions(url), len(_recorded(record))
    trainer = WatchedTrainer(
        model=model,
        processing_class=tokenizer,
        args=GRPOConfig(
            output_dir=str(tmp_path),
            max_steps=2,
            per_device_train_batch_size=8,
            num_generations=4,
            max_completion_length=48,
            max_tool_calling_iterations=2,
            learning_rate=1e-4,
            logging_steps=1,
            seed=0,
            use_cpu=True,
            bf16=False,
            gradient_checkpointing=False,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
        ),
        train_dataset=Dataset.from_list(TASKS),
        environment_factory=factory,
    )
    trainer.train()

    assert trainer.state.global_step == 2
    assert [get_json_schema(tool) for tool in trainer.tools] == [CODE_TOOL]
    assert len(shown) == 16
    assert all(json.dumps(CODE_TOOL, ensure_ascii=False) in prompt for prompt in shown)

    entries = _recorded(record)[resets_before:]
    resets = [entry for entry in entries if "task" in entry]
    assert Counter(json.dumps(entry["task"]) for entry in resets) == Counter(
        json.dumps(task) for task in TASKS for _ in range(4)
    )
    assert [_question(prompt) for prompt in shown] == [
        entry["task"]["question"] for entry in resets
    ]

    rewards = Counter()
    for entry in entries:
        if "reward" in entry:
            rewards[entry["episode"]] += entry["reward"]
    per_step = [[rewards[entry["episode"]] for entry in resets[at : at + 8]] for at in (0, 8)]
    logged = [row["rewards/CodeEnvironment/mean"] for row in trainer.state.log_history[:2]]
    assert logged == pytest.approx([sum(step) / 8 for step in per_step])
    assert sum(logged) > 0

    assert sessions(url) == open_before + 8
    del trainer
    gc.collect()
    assert wait_until(lambda: sessions(url) == open_before)


def _recorded(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines()]


def _question(prompt: str) -> str:
    return prompt.rsplit("<|im_start|>user\n", 1)[1].split("<|im_end|>", 1)[0]


SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TOOL_TAGS = ["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"]


def _conversation(task: dict) -> list[dict]:
    """The task asked, and answered the way the warm-up teaches: the expression as code."""
    expression = task["question"].removeprefix("What is ").removesuffix("?")
    call = {"type": "function", "function": {"name": "code", "arguments": {"code": expression}}}
    return [
        {"role": "user", "content": task["question"]},
        {"role": "assistant", "content": "", "tool_calls": [call]},
    ]


def _tokenizer():
    """A byte-level BPE trained here on the conversations, with Qwen2.5's chat template from
    the trl package (TRL knows how to parse its tool calls): nothing is downloaded."""
    template = (Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja").read_text()
    plain = _bpe(["x"], template)
    texts = [
        plain.apply_chat_template(_conversation(task), tools=[CODE_TOOL], tokenize=False)
        for task in TASKS
    ]
    texts += ["<tool_response>\n" + '{"value":42}\n' + EPISODE_OVER + "\n</tool_response>"]
    return _bpe(texts * 4, template)


def _bpe(texts: list[str], template: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        texts,
        trainers.BpeTrainer(
            vocab_size=1000,
            special_tokens=SPECIAL_TOKENS + TOOL_TAGS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        ),
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=SPECIAL_TOKENS,
    )
    tokenizer.add_tokens(TOOL_TAGS)
    tokenizer.chat_template = template
    return tokenizer


def _warmed_up_model(tokenizer, torch):
    """A randomly initialised two-layer Qwen2, fine-tuned for 60 steps on the conversations'
    tool calls so that it emits some (a random model rarely writes a valid one)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    rows = []
    for task in TASKS:
        conversation = _conversation(task)
        prompt = tokenizer.apply_chat_template(
            conversation[:1], tools=[CODE_TOOL], add_generation_prompt=True, tokenize=False
        )
        full = tokenizer.apply_chat_template(conversation, tools=[CODE_TOOL], tokenize=False)
        ids, prompt_length = tokenizer(full)["input_ids"], len(tokenizer(prompt)["input_ids"])
        rows.append((ids, [-100] * prompt_length + ids[prompt_length:]))
    length = max(len(ids) for ids, _ in rows)
    padding = [tokenizer.pad_token_id] * length
    input_ids = torch.tensor([ids + padding[len(ids) :] for ids, _ in rows])
    labels = torch.tensor([labels + [-100] * (length - len(labels)) for _, labels in rows])
    attention_mask = (input_ids != tokenizer.pad_token_id).long()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(60):
        loss = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return model
