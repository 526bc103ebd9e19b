"""A short echo episode, printed to the terminal."""

from envtorch.envs.echo import EchoAction, EchoEnv


def main() -> None:
    with EchoEnv(render_mode="ansi", max_steps=3) as env:
        observation = env.reset(seed=0)
        for message in ["Hello, World!", "envtorch", "bye"]:
            observation = env.step(EchoAction(message=message))
            print(env.render(), end="")
            print(f"  reward={observation.reward} done={observation.done}")
        print(f"episode {env.state.episode_id} ended after {env.state.step_count} steps")


if __name__ == "__main__":
    main()
