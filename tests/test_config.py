import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np
import pytest

from eccr.config import ConfigError, config_from_dict, config_to_dict, field_help, load_config, save_json
from eccr.quantize.config import QuantizerConfig, RQVAEConfig
from eccr.rank.config import ComplementConfig, RankerConfig
from eccr.run import RunConfig


@dataclass
class Example:
    # a section heading, not the help of `hops`
    hops: int = 10              # K, the number of hops
    rate: float = 0.5           # a rate that needs two lines:
    #                             this line continues it
    # comment above `names`, which has no comment of its own
    names: tuple[str, ...] = ("a",)
    modules: list[str] = field(
        default_factory=lambda: ["q", "v"]
    )                           # on the closing line of a multi-line default (50% of them)
    path: str | None = None


def test_field_help_reads_the_comments_of_a_field():
    assert field_help(Example, "hops") == "K, the number of hops"
    assert field_help(Example, "rate") == "a rate that needs two lines: this line continues it"
    assert field_help(Example, "names") == "comment above `names`, which has no comment of its own"
    assert field_help(Example, "modules") == "on the closing line of a multi-line default (50% of them)"
    assert field_help(Example, "path") == ""


def _leaf_fields(cls, prefix=""):
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            yield from _leaf_fields(hints[f.name], f"{prefix}{f.name}.")
        else:
            yield cls, f.name, prefix + f.name


def test_every_run_config_field_is_documented():
    undocumented = [dotted for cls, name, dotted in _leaf_fields(RunConfig) if not field_help(cls, name)]
    assert not undocumented, f"fields without a comment (their --help would be empty): {undocumented}"


def test_run_config_round_trips_through_json():
    cfg = RunConfig()
    assert config_from_dict(RunConfig, json.loads(json.dumps(config_to_dict(cfg)))) == cfg
    ranker = RankerConfig(hops=3)
    assert RankerConfig.from_dict(json.loads(json.dumps(ranker.to_dict()))) == ranker
    quantizer = QuantizerConfig(kind="rqvae", rqvae=RQVAEConfig(hidden=(64, 32)))
    again = QuantizerConfig.from_dict(json.loads(json.dumps(quantizer.to_dict())))
    assert again == quantizer and again.rqvae.hidden == (64, 32)  # the JSON list is a tuple again


def test_a_partial_dict_keeps_the_other_defaults():
    cfg = config_from_dict(RunConfig, {"ranker": {"hops": 4}, "stages": ["represent", "rank"]})
    assert cfg.ranker.hops == 4 and cfg.ranker.null_slot  # RunConfig's ranker default (null_slot=True) is kept
    assert cfg.stages == ("represent", "rank")
    # an older run's config.json without a later section still loads (that section gets its defaults)
    old = config_to_dict(RunConfig(blend_max_pairs=7))
    del old["complement"]
    assert config_from_dict(RunConfig, old) == RunConfig(blend_max_pairs=7)
    assert ComplementConfig.from_dict({"hidden": 32}) == ComplementConfig(hidden=32)


@pytest.mark.parametrize("data, field_name, message", [
    ({"rankr": {}}, "rankr", "not a RunConfig field"),
    ({"ranker": {"hopz": 4}}, "ranker.hopz", "not a RankerConfig field"),
    ({"ranker": {"hops": "four"}}, "ranker.hops", "expected int, got 'four'"),
    ({"ranker": {"hops": True}}, "ranker.hops", "expected int"),
    ({"ranker": 3}, "ranker", "expected an object"),
    ({"stages": "rank"}, "stages", "expected a list of str"),
    ({"quantizer": {"kind": "vq"}}, "quantizer", "QuantizerConfig.kind must be one of"),
])
def test_a_bad_value_names_its_field(data, field_name, message):
    with pytest.raises(ConfigError, match=message) as err:
        config_from_dict(RunConfig, data)
    assert err.value.field == field_name and str(err.value).startswith(field_name)


def test_load_config_names_the_file(tmp_path):
    good = tmp_path / "run" / "config.json"
    good.parent.mkdir()
    good.write_text(json.dumps({"ranker": {"lr": 1}}))  # an int where a float is expected is fine
    assert load_config(RunConfig, good).ranker.lr == 1.0
    assert load_config(RunConfig, good.parent) == load_config(RunConfig, good)  # a run folder: its config.json
    bad = tmp_path / "bad.json"
    bad.write_text('{"ranker": {"hops": 4,}}')
    with pytest.raises(ConfigError, match=f"{bad}: not valid JSON .line 1"):
        load_config(RunConfig, bad)
    with pytest.raises(FileNotFoundError, match="no such config file"):
        load_config(RunConfig, tmp_path / "nope.json")


def test_save_json_writes_strict_json(tmp_path):
    """NaN and infinity (an empty group's mean, a delay quantile with no data) become null, numpy values plain:
    the file parses with a strict reader, not only with Python's json."""
    path = tmp_path / "out" / "report.json"
    save_json({"mean": np.float64("nan"), "upper": float("inf"), "n": np.int64(3), "hr": np.array([0.5, np.nan]),
               "kinds": frozenset({"seen"}), "ok": True}, path)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert loaded == {"mean": None, "upper": None, "n": 3, "hr": [0.5, None], "kinds": ["seen"], "ok": True}
