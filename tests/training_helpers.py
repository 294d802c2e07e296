"""Shared pieces of the training tests: tiny settings, snapshot-shaped files, run specs."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq

from curation import Store, export_dataset, import_paths
from training.methods import settings_from_dict
from training.run_spec import RunSpec

PAIRS = [
    {
        "prompt": f"Question {i}: what is {i} plus {i}?",
        "chosen": f"It is {2 * i}.",
        "rejected": "No idea, go away.",
    }
    for i in range(8)
]
TINY = {
    "max_steps": 2,
    "per_device_train_batch_size": 2,
    "learning_rate": 1e-2,
    "max_length": 64,
    "sample_prompts": 2,
    "max_new_tokens": 4,
    "lora_rank": 4,
    "lora_alpha": 8,
}


def write_split_exports(root: Path) -> dict[str, dict[str, Path]]:
    """dpo/kto/sft train and test Parquet files from the exporter (a snapshot's columns)."""
    source = root / "pairs.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    files: dict[str, dict[str, Path]] = {}
    with Store(root / "export-source.duckdb") as store:
        import_paths(store, [source])
        for fmt in ("dpo", "kto", "sft"):
            export_dataset(store, fmt, root / f"{fmt}.parquet", "parquet")
            table = pq.read_table(root / f"{fmt}.parquet")
            cut = table.num_rows * 3 // 4
            files[fmt] = {
                "train": root / f"{fmt}-train.parquet",
                "test": root / f"{fmt}-test.parquet",
            }
            pq.write_table(table.slice(0, cut), files[fmt]["train"])
            pq.write_table(table.slice(cut), files[fmt]["test"])
    return files


def tiny_spec(method: str, model: Path, files: dict, **settings: object) -> RunSpec:
    """A run of `method` on the split files with tiny settings (overridden by `settings`)."""
    fmt = {"rm": "dpo"}.get(method, method)
    return RunSpec(
        method=method,
        model=str(model),
        snapshot="s1",
        data={"train": str(files[fmt]["train"]), "eval_pairs": str(files["dpo"]["test"])},
        settings=settings_from_dict(method, {**TINY, **settings}),
        run_id=1,
    )


VARIED_PAIRS = [
    {
        "prompt": "What is the capital of France?",
        "chosen": "Paris.",
        "rejected": "Berlin, I think.",
    },
    {"prompt": "How many legs does a spider have?", "chosen": "Eight.", "rejected": "Six legs."},
    {"prompt": "Name a primary colour.", "chosen": "Red is one.", "rejected": "Purple."},
    {"prompt": "What do bees make?", "chosen": "Honey.", "rejected": "Milk."},
    {"prompt": "Which planet is closest to the sun?", "chosen": "Mercury.", "rejected": "Mars."},
    {"prompt": "What is frozen water called?", "chosen": "Ice.", "rejected": "Steam."},
    {"prompt": "Say something polite.", "chosen": "Thank you kindly!", "rejected": "Go away."},
    {"prompt": "How many days are in a week?", "chosen": "Seven.", "rejected": "Ten days."},
    {"prompt": "What gas do plants take in?", "chosen": "Carbon dioxide.", "rejected": "Helium."},
    {"prompt": "Translate 'gracias' to English.", "chosen": "Thank you.", "rejected": "Goodbye."},
]


def make_snapshot(store, folder: Path, name: str = "s1") -> str:
    """Import VARIED_PAIRS into `store` and freeze them as snapshot `name` with a test split."""
    from curation.snapshots.freeze import create_snapshot, snapshot_files
    from curation.snapshots.snapshot_policy import SnapshotPolicy

    source = folder / "varied.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in VARIED_PAIRS))
    import_paths(store, [source])
    create_snapshot(store, name, SnapshotPolicy(test_fraction=0.3))
    assert pq.read_table(snapshot_files(store, name)["dpo"]["test"]).num_rows > 0
    return name
