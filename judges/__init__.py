"""Scoring response pairs with LLM judges, reward models and rule baselines."""
