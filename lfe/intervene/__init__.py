"""Causal tests on a loaded model: deactivating neurons (whole-model or per batch row) and the
evaluations run while they are off (perplexity, choice tasks, greedy generation)."""
