"""Training checkpoints of the rankers (attention CF and DAN in `eccr.rank.train`, AttrFormer and its SASRec ablation
in `eccr.rank.attrformer`), safetensors + JSON, no pickle. One folder holds:

- model.safetensors + config.json: the latest weights (a loadable model folder);
- optimizer.safetensors: the Adam state and the torch RNG state (dropout draws continue where they stopped);
- trainer_state.json: the loop's `TrainState` (position, lr schedule, history), the optimizer's param groups and
  whatever the trainer adds to check a resume against (its config, ...);
- best/ (or another folder the trainer names): the best weights so far, written when they improve.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from eccr.rank.attention_cf import WEIGHTS_FILE, save_module
from eccr.rank.config import RankerConfig

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"
BEST_DIR = "best"
RNG_KEY = "torch_rng_state"


@dataclass
class TrainState:
    """Where a ranker's training loop is and its lr schedule (Lake et al. §4.3)."""
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0             # the next batch of `epoch`
    lr: float = 0.0
    best_valid_loss: float = float("inf")
    evals_without_improvement: int = 0
    reductions: int = 0
    seconds: float = 0.0
    stopped_because: str = ""
    history: list = field(default_factory=list)

    def assess(self, valid_loss: float, optimizer: torch.optim.Optimizer, config: RankerConfig) -> bool:
        """One assessment's validation loss: True when it is the best so far; otherwise after `patience`
        assessments without improvement the lr is multiplied by `lr_decay` (one reduction)."""
        if np.isfinite(valid_loss) and valid_loss < self.best_valid_loss:
            self.best_valid_loss, self.evals_without_improvement = valid_loss, 0
            return True
        self.evals_without_improvement += 1
        if self.evals_without_improvement >= config.patience:
            self.reductions += 1
            self.evals_without_improvement = 0
            self.lr *= config.lr_decay
            for group in optimizer.param_groups:
                group["lr"] = self.lr
        return False


@dataclass
class Checkpoint:
    state: TrainState
    best: dict[str, torch.Tensor] | None  # the best weights so far, None when none was written
    info: dict                            # the whole trainer_state.json (the trainer's own fields too)


def has_checkpoint(directory: str | Path | None) -> bool:
    return directory is not None and (Path(directory) / STATE_FILE).exists()


def read_checkpoint_info(directory: str | Path) -> dict:
    """trainer_state.json alone, to check a checkpoint before loading its weights."""
    return json.loads((Path(directory) / STATE_FILE).read_text())


def save_checkpoint(directory: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer, state: TrainState,
                    **extra) -> None:
    """Latest weights, Adam + torch RNG state and `state` (plus the JSON-able `extra` fields); the JSON last, by
    rename, so a folder with trainer_state.json always has the weights it describes."""
    directory = Path(directory)
    save_module(model, directory)
    tensors, meta = optimizer_to_tensors(optimizer)
    tensors[RNG_KEY] = torch.get_rng_state()
    save_file(tensors, str(directory / OPTIMIZER_FILE))
    info = {"trainer": dataclasses.asdict(state), "optimizer": meta, **extra}
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(info, indent=1))
    tmp.replace(directory / STATE_FILE)


def save_best(directory: str | Path, model: nn.Module, best_dir: str = BEST_DIR) -> None:
    save_module(model, Path(directory) / best_dir)


def load_checkpoint(directory: str | Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    best_dir: str = BEST_DIR) -> Checkpoint:
    """Restores the latest weights into `model`, the Adam state into `optimizer` and the torch RNG state (when the
    checkpoint has one); returns the loop state and the best weights so far."""
    directory = Path(directory)
    info = read_checkpoint_info(directory)
    model.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
    tensors = load_file(str(directory / OPTIMIZER_FILE))
    rng = tensors.pop(RNG_KEY, None)
    if rng is not None:
        torch.set_rng_state(rng)
    optimizer.load_state_dict(optimizer_from_tensors(tensors, info["optimizer"]))
    best = directory / best_dir / WEIGHTS_FILE
    return Checkpoint(TrainState(**info["trainer"]), load_file(str(best)) if best.exists() else None, info)


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as flat tensors `state.<param>.<name>` plus JSON-able param groups."""
    sd = optimizer.state_dict()
    tensors = {f"state.{pid}.{name}": value.detach().contiguous().cpu().reshape(-1) if value.dim() == 0
               else value.detach().contiguous().cpu()
               for pid, st in sd["state"].items() for name, value in st.items() if torch.is_tensor(value)}
    scalars = {f"{pid}.{name}": torch.is_tensor(value) and value.dim() == 0
               for pid, st in sd["state"].items() for name, value in st.items()}
    return tensors, {"param_groups": sd["param_groups"], "scalar": scalars}


def optimizer_from_tensors(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = value.reshape(()) if meta["scalar"].get(f"{pid}.{name}") else value
    groups = [dict(g, betas=tuple(g["betas"])) if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}
