"""`eccr train`'s flags are generated from the config dataclasses (simple-parsing): every field is a flag whose
help is the field's comment, `--config FILE` starts from a saved config, and flags override it."""
import dataclasses
import itertools
import json
import re
import shlex
import typing
from pathlib import Path

import pytest

from eccr import cli
from eccr.config import config_to_dict, save_json
from eccr.run import RunConfig, quick

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def trained(monkeypatch):
    """Run `eccr train ARGS` without training: returns the RunConfig train_run would get."""
    import eccr.jobs.train

    seen = []
    monkeypatch.setattr(eccr.jobs.train, "train_run", lambda cfg, out, force=False: seen.append(cfg) or {"seconds": {}})

    def run(*argv: str) -> RunConfig:
        argv = list(argv) if "--out" in argv else [*argv, "--out", "runs/unused"]
        assert cli.main(["train", *argv]) == 0
        return seen[-1]
    return run


def test_defaults_and_the_quick_preset(trained):
    assert trained() == RunConfig()
    assert trained("--quick") == quick(RunConfig())
    assert trained("--quick", "--ranker.hops", "2").ranker == dataclasses.replace(quick(RunConfig()).ranker, hops=2)


def test_nested_flags_of_every_kind(trained):
    cfg = trained("--ranker.hops", "4", "--ranker.progress", "false", "--sft.max_steps", "200",
                  "--model.spec", "/models/x", "--quantizer.kind", "rqvae", "--quantizer.rqvae.hidden", "64", "32",
                  "--complement.hidden", "128", "--dan.variant", "add", "--sft.target_modules", "q_proj", "v_proj",
                  "--stages", "represent", "rank", "--weighted_sum_evaluations", "5", "--blend_max_pairs", "9",
                  "--text.model_dir", "/st", "--directed.lr", "1e-3")
    assert (cfg.ranker.hops, cfg.ranker.progress, cfg.ranker.null_slot) == (4, False, True)
    assert cfg.sft.max_steps == 200 and cfg.sft.target_modules == ["q_proj", "v_proj"]
    assert cfg.model.spec == "/models/x" and cfg.quantizer.kind == "rqvae"
    assert cfg.quantizer.rqvae.hidden == (64, 32) and cfg.complement.hidden == 128 and cfg.dan.variant == "add"
    assert cfg.stages == ("represent", "rank") and cfg.weighted_sum_evaluations == 5 and cfg.blend_max_pairs == 9
    assert cfg.text.model_dir == "/st" and cfg.directed.lr == 1e-3
    assert trained("--data", "demo2", "--no-lm").data.source == "demo2"
    assert "lm" not in trained("--no-lm").stages


def test_config_file_then_flags(trained, tmp_path):
    saved = RunConfig(ranker=RankerConfigLike(hops=3), blend_max_pairs=11)
    run = tmp_path / "run"
    save_json(config_to_dict(saved), run / "config.json")
    assert trained("--config", str(run / "config.json")) == saved
    assert trained("--config", str(run)) == saved  # the run folder works too
    cfg = trained("--config", str(run / "config.json"), "--ranker.hops", "5", "--sft.max_steps", "200")
    assert cfg == dataclasses.replace(saved, ranker=dataclasses.replace(saved.ranker, hops=5),
                                      sft=dataclasses.replace(saved.sft, max_steps=200))
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"ranker": {"hops": 6}, "sft": {"max_steps": 50}}))
    cfg = trained("--config", str(partial), "--sft.max_steps", "70", "--quick")
    assert cfg.ranker.hops == 4  # --quick is a flag: it overrides the file (its ranker preset has 4 hops)
    assert cfg.sft.max_steps == 70 and cfg.ranker.null_slot


def RankerConfigLike(**changes):
    return dataclasses.replace(RunConfig().ranker, **changes)


@pytest.mark.parametrize("content, names", [
    ('{"ranker": {"hopz": 4}}', ["ranker.hopz", "not a RankerConfig field"]),
    ('{"ranker": {"hops": "four"}}', ["ranker.hops", "expected int, got 'four'"]),
    ('{"ranker": {"hops": 4,}}', ["not valid JSON", "line 1"]),
])
def test_a_bad_config_file_is_a_clear_error(tmp_path, capsys, content, names):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SystemExit) as done:
        cli.main(["train", "--out", str(tmp_path / "out"), "--config", str(path)])
    err = capsys.readouterr().err
    assert done.value.code == 2 and str(path) in err and all(n in err for n in names)
    assert not (tmp_path / "out").exists()


def _train_help(capsys) -> str:
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    return capsys.readouterr().out


def test_help_text_comes_from_the_field_comments(capsys):
    text = " ".join(_train_help(capsys).split())  # argparse wraps lines
    assert "--ranker.hops int K; depth 2 -> 4 helps most, deeper gives diminishing gains (Fig. 4) (default: 10)" in text
    assert "ranker options (RankerConfig)" in text and "quantizer.rqvae options (RQVAEConfig)" in text
    assert "--quantizer.threads int CPU threads for FAISS and torch while fitting; these matrices are small, so" \
        in text  # a comment continued on the next lines
    assert "--config FILE" in text


def test_every_config_field_is_a_flag(capsys):
    flags = set(re.findall(r"--([\w.]+)", _train_help(capsys)))

    def dotted(cls, prefix=""):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(hints[f.name]):
                yield from dotted(hints[f.name], f"{prefix}{f.name}.")
            else:
                yield prefix + f.name

    missing = sorted(set(dotted(RunConfig)) - flags)
    assert not missing


def _readme_train_commands() -> list[str]:
    text = README.read_text().replace("\\\n", " ")  # a shell line continuation joins its lines
    commands = re.findall(r"`(eccr train [^`]*)`", text)  # inline, possibly wrapped over two lines
    commands += re.findall(r"^(eccr train .*?)(?:\s+#.*)?$", text, flags=re.MULTILINE)  # code-block lines
    return [" ".join(c.split()) for c in commands if "--help" not in c]


def test_every_train_command_in_the_readme_parses(trained, tmp_path):
    commands = _readme_train_commands()
    assert len(commands) >= 3 and any("--config" in c for c in commands)
    saved = tmp_path / "config.json"  # stands in for the saved run a `--config` example names
    save_json(config_to_dict(RunConfig()), saved)
    for command in commands:
        argv = shlex.split(command)[2:]
        if "--config" in argv:
            argv[argv.index("--config") + 1] = str(saved)
        cfg = trained(*argv)
        for n, flag in enumerate(argv):
            values = list(itertools.takewhile(lambda a: not a.startswith("--"), argv[n + 1:]))
            if flag.startswith("--") and "." in flag and values:
                section, name = flag[2:].split(".")
                got = getattr(getattr(cfg, section), name)
                if isinstance(got, (tuple, list)):  # a multi-valued flag: `--tasks.tasks recommend explain`
                    assert [str(g) for g in got] == values, (command, flag, got)
                elif isinstance(got, bool):  # `--complement_encoder.enabled false`
                    assert len(values) == 1 and values[0].lower() in ("true", "false") \
                        and got == (values[0].lower() == "true"), (command, flag, got)
                else:
                    assert len(values) == 1 and (str(got) == values[0] or got == type(got)(values[0])), \
                        (command, flag, got)


def test_every_dotted_flag_the_readme_names_exists(capsys):
    flags = set(re.findall(r"--([\w.]+)", _train_help(capsys)))
    for command in ("evaluate", "recommend", "explain"):  # dotted flags too (--delay.*, --serve.*)
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        flags |= set(re.findall(r"--([\w.]+)", capsys.readouterr().out))
    from eccr.llm.pair_scorer import job_parser  # python -m eccr.llm.pair_scorer: --pair.*, --sft.*

    with pytest.raises(SystemExit):
        job_parser().parse_args(["--help"])
    flags |= set(re.findall(r"--([\w.]+)", capsys.readouterr().out))
    named = set(re.findall(r"--([a-z_]+\.[a-z_.0-9]*[a-z_0-9])", README.read_text()))
    assert named and not sorted(named - flags)


def test_a_run_with_a_bad_config_json_is_a_clear_error(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"ranker": {"hops": "four"}}))
    (run / "train_summary.json").write_text("{}")
    assert cli.main(["recommend", "--run", str(run), "--item", "x", "--no-lm"]) == 2
    err = capsys.readouterr().err
    assert f"{run / 'config.json'}: ranker.hops: expected int, got 'four'" in err
