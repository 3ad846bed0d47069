"""The language-model layer: models (loading, tiny test model), tokens (semantic-ID tokens), sft (LoRA
multi-task fine-tuning), generate (scoring, constrained item generation, explanations), config (dataclasses)."""
