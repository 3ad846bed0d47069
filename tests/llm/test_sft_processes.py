"""LM training under a multi-process launcher (torchrun sets RANK/WORLD_SIZE/LOCAL_RANK as `accelerate launch`
does): two real CPU processes train one data-parallel adapter and process 0 alone writes it; `eccr train` trains
the lm stage of a run that way and refuses to run the other stages in every process."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = '''
import json, os, sys
import torch.distributed as dist
import eccr.llm.sft as sft
from datasets import Dataset
from eccr.llm.config import LoraSftConfig
from eccr.llm.models import load_causal_lm

folder, out = sys.argv[1], sys.argv[2]
rank = os.environ["RANK"]
save = sft.save_adapter
def counted_save(*args, **kwargs):
    open(os.path.join(out, f"saved-by-{rank}"), "w").close()
    return save(*args, **kwargs)
sft.save_adapter = counted_save
model, tok = load_causal_lm(folder, device="cpu")
rows = [{"prompt": "Recommend a complement for a camera", "completion": "a battery", "task": "recommend"},
        {"prompt": "Explain why a bag goes with a camera", "completion": "it carries it", "task": "explain"}] * 4
config = LoraSftConfig(output_dir=out, max_steps=3, save_steps=100, per_device_batch_size=2, lora_r=2,
                       logging_steps=100, trl_args=["ddp_backend=gloo"])
result = sft.train_sft(model, tok, Dataset.from_list(rows), config, base_spec=folder)
world = dist.get_world_size() if dist.is_initialized() else 1
with open(os.path.join(out, f"rank-{rank}.json"), "w") as f:
    json.dump({"step": result.global_step, "world": world}, f)
'''


def _torchrun(*args: str) -> subprocess.CompletedProcess:
    torchrun = Path(sys.executable).with_name("torchrun")
    return subprocess.run([str(torchrun), "--nproc_per_node", "2", *args], capture_output=True, text=True,
                          timeout=900, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})


@pytest.mark.slow
def test_two_processes_train_one_adapter_and_process_zero_saves_it(tiny_folder, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "sft"
    done = _torchrun(str(driver), str(tiny_folder), str(out))
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks == [{"step": 3, "world": 2}] * 2  # one process group of two: data parallel
    assert sorted(p.name for p in out.glob("saved-by-*")) == ["saved-by-0"]
    assert json.loads((out / "adapter" / "eccr_llm.json").read_text())["base_spec"] == str(tiny_folder)


@pytest.mark.slow
def test_eccr_train_trains_the_lm_stage_across_processes(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    for trained in (run / "lm", run / "checkpoints" / "lm"):  # the adapter and its checkpoints
        shutil.rmtree(trained, ignore_errors=True)
    done = _torchrun("-m", "eccr.cli", "--", "train", "--config", str(run), "--out", str(run), "--stages", "lm",
                     "--sft.max_steps", "2", "--sft.save_steps", "100")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (run / "lm" / "adapter_model.safetensors").exists()
    assert json.loads((run / "train_summary.json").read_text())["stages"]["lm"]["lm"]["global_step"] == 2


def test_other_stages_are_refused_under_a_launcher(monkeypatch, tmp_path):
    from eccr.jobs.train import train_run
    from eccr.run import RunConfig

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="only the lm stage trains across processes.*--stages lm"):
        train_run(dataclasses.replace(RunConfig(), stages=["represent", "lm"]), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_the_pair_scorer_trains_across_processes(tiny_run, tmp_path):
    out = tmp_path / "pair"
    model = json.loads((tiny_run / "config.json").read_text())["model"]["spec"]
    done = _torchrun("-m", "eccr.llm.pair_scorer", "--", "--run", str(tiny_run), "--out", str(out), "--model", model,
                     "--device", "cpu", "--sft.max_steps", "2", "--sft.per_device_batch_size", "2",
                     "--pair.max_lists", "4", "--sft.max_length", "1024")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((out / "adapter" / "pair_scorer.json").read_text())["global_step"] == 2
