"""train_sft under a multi-process launcher (torchrun sets RANK/WORLD_SIZE/LOCAL_RANK as `accelerate launch`
does): two real CPU processes train one data-parallel adapter, saved once, and each process ends at the same step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = '''
import json, os, sys
from datasets import Dataset
from eccr.llm.config import LoraSftConfig
from eccr.llm.models import load_causal_lm
from eccr.llm.sft import train_sft

folder, out = sys.argv[1], sys.argv[2]
model, tok = load_causal_lm(folder, device="cpu")
rows = [{"prompt": "Recommend a complement for a camera", "completion": "a battery", "task": "recommend"},
        {"prompt": "Explain why a bag goes with a camera", "completion": "it carries it", "task": "explain"}] * 4
config = LoraSftConfig(output_dir=out, max_steps=3, save_steps=100, per_device_batch_size=2, lora_r=2,
                       logging_steps=100, trl_args=["ddp_backend=gloo"])
result = train_sft(model, tok, Dataset.from_list(rows), config, base_spec=folder)
rank = os.environ["RANK"]
with open(os.path.join(out, f"rank-{rank}.json"), "w") as f:
    json.dump({"step": result.global_step, "world": int(os.environ["WORLD_SIZE"])}, f)
'''


@pytest.mark.slow
def test_two_processes_train_one_adapter_and_save_it_once(tiny_folder, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    out = tmp_path / "sft"
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run([str(torchrun), "--nproc_per_node", "2", str(driver), str(tiny_folder), str(out)],
                          capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((out / f"rank-{r}.json").read_text()) for r in (0, 1)]
    assert ranks == [{"step": 3, "world": 2}] * 2
    assert (out / "adapter" / "adapter_model.safetensors").exists()
    assert json.loads((out / "adapter" / "eccr_llm.json").read_text())["base_spec"] == str(tiny_folder)
