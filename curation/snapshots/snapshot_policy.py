"""The policy that turns labels into a snapshot's training rows, loaded from a YAML or JSON file.

Example policy file (every key optional; these are the defaults)::

    agreement: majority        # or unanimous
    min_votes: 1               # votes in force (skips aside) a pair needs
    ties: drop                 # or kto_good: both responses become desirable KTO examples
    both_bad: drop             # or kto_bad: both responses become undesirable KTO examples
    exclude_flags: [identical, empty, duplicate, excluded]
    judge_key: null            # a judge whose verdicts fill pairs without a human outcome
    judge_min_confidence: 0.8  # max(p_a, 1 - p_a) a judge verdict needs
    test_fraction: 0.1         # share of prompt clusters in the test split
    split_seed: prefstudio     # salt of the deterministic split
    near_dup_threshold: 0.8    # near-duplicate prompts share a split
    min_gold_accuracy: null    # e.g. 0.7: leave out every label of annotators under this
    min_gold_answers: 1        # ...once they answered this many gold pairs
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from curation.errors import PrefstudioError
from curation.quality.flags import FLAG_KINDS


class PolicyError(PrefstudioError):
    """A snapshot policy is malformed or has a value out of range."""


@dataclass(frozen=True)
class SnapshotPolicy:
    """How labels become training rows, and how prompts split into train and test."""

    agreement: str = "majority"
    min_votes: int = 1
    ties: str = "drop"
    both_bad: str = "drop"
    exclude_flags: tuple[str, ...] = ("identical", "empty", "duplicate", "excluded")
    judge_key: str | None = None
    judge_min_confidence: float = 0.8
    test_fraction: float = 0.1
    split_seed: str = "prefstudio"
    near_dup_threshold: float = 0.8
    min_gold_accuracy: float | None = None
    min_gold_answers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "exclude_flags", tuple(self.exclude_flags))
        choices = {
            "agreement": ("majority", "unanimous"),
            "ties": ("drop", "kto_good"),
            "both_bad": ("drop", "kto_bad"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise PolicyError(
                    f"policy {name} is {getattr(self, name)!r}; choose from {', '.join(allowed)}"
                )
        unknown = sorted(set(self.exclude_flags) - set(FLAG_KINDS))
        if unknown:
            raise PolicyError(
                f"policy exclude_flags has unknown kinds {', '.join(unknown)}; "
                f"choose from {', '.join(FLAG_KINDS)}"
            )
        for name in ("min_votes", "min_gold_answers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PolicyError(f"policy {name} must be a whole number >= 1, got {value!r}")
        ranges = {
            "judge_min_confidence": (0.5, 1.0, True),
            "test_fraction": (0.0, 1.0, False),
            "near_dup_threshold": (0.0, 1.0, True),
            "min_gold_accuracy": (0.0, 1.0, True),
        }
        for name, (low, high, high_ok) in ranges.items():
            value = getattr(self, name)
            if name == "min_gold_accuracy" and value is None:
                continue  # no gold rule
            if not isinstance(value, int | float) or not (
                low <= value <= high if high_ok else low <= value < high
            ):
                bound = "]" if high_ok else ")"
                raise PolicyError(f"policy {name} must be in [{low}, {high}{bound}, got {value!r}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["exclude_flags"] = list(self.exclude_flags)
        return data

    @classmethod
    def from_dict(cls, data: object, where: str = "policy") -> SnapshotPolicy:
        """A policy from a mapping; unknown keys are an error naming them."""
        if not isinstance(data, dict):
            raise PolicyError(f"{where}: expected a mapping of policy settings")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(
                f"{where}: unknown setting {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        try:
            return cls(**data)
        except PolicyError as error:
            raise PolicyError(f"{where}: {error}") from None
        except TypeError as error:
            raise PolicyError(f"{where}: {error}") from None

    @classmethod
    def from_file(cls, path: str | Path) -> SnapshotPolicy:
        """Load a policy from a `.json` file, or YAML for any other suffix."""
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise PolicyError(f"cannot read policy {path}: {reason}") from None
        if path.suffix.lower() == ".json":
            try:
                data = json.loads(text)
            except ValueError as error:
                raise PolicyError(f"{path}: not valid JSON: {error}") from None
        else:
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as error:
                mark = getattr(error, "problem_mark", None)
                where = f", line {mark.line + 1}" if mark is not None else ""
                problem = getattr(error, "problem", None) or str(error).splitlines()[0]
                raise PolicyError(f"{path}{where}: not valid YAML: {problem}") from None
        return cls.from_dict(data if data is not None else {}, where=str(path))
