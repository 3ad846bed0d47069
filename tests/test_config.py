import argparse
from dataclasses import dataclass

import pytest

from eccr.config import add_config_arguments, config_from_arguments, config_from_dict
from eccr.run import RunConfig


@dataclass
class Example:
    hops: int = 10
    rate: float = 0.5
    flag: bool = False
    names: tuple[str, ...] = ("a",)
    path: str | None = None


def test_flags_override_only_what_is_given():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, "ex", Example)
    args = parser.parse_args(["--ex.hops", "4", "--ex.flag", "true", "--ex.names", "x", "y"])
    cfg = config_from_arguments(args, "ex", Example)
    assert cfg == Example(hops=4, rate=0.5, flag=True, names=("x", "y"))
    with pytest.raises(SystemExit):
        parser.parse_args(["--ex.flag", "maybe"])


def test_run_config_round_trips_and_rejects_unknown_keys():
    import dataclasses
    import json

    cfg = RunConfig()
    again = config_from_dict(RunConfig, json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert again == cfg
    with pytest.raises(ValueError, match="unknown RunConfig keys"):
        config_from_dict(RunConfig, {"rankr": {}})
