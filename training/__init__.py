"""Model loading, generation and TRL training runs on store snapshots."""
