"""A snapshot's dataset card: `README.md` with YAML front matter that `datasets` and the Hub read.

The front matter lists one config per format (`dpo`, the default, then `kto` and `sft`), each
with its `train` and `test` Parquet files (those with rows), so `datasets.load_dataset(folder)`
reads the DPO rows and `load_dataset(folder, "kto")` the KTO rows. The body states what the rows are: the
counts per split and format, how the pairs fared, the policy, the flags that excluded pairs,
where the prompts came from and how well the annotators agreed. Nothing in it depends on the
snapshot's name or time, so the same data and policy give the same card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CARD_FILE = "README.md"
DEFAULT_CONFIG = "dpo"
_DESCRIPTIONS = {
    "dpo": "preference rows (`prompt`, `chosen`, `rejected`, with `prompt_id` and `pair_id`) "
    "for DPO and reward models",
    "kto": "unpaired rows (`prompt`, `completion`, `label`) for KTO",
    "sft": "`prompt`/`completion` rows for SFT",
}


@dataclass(frozen=True)
class CardFacts:
    """What a snapshot's card states.

    `files`: format -> split -> path relative to the folder; `counts`: split -> format -> rows,
    and `pairs` -> outcome -> pairs; `excluded_flags`: flag kind -> decided pairs it excluded;
    `sources`: prompt source -> pairs with a preference row; `agreement`: the store's
    `AgreementReport.to_dict()`.
    """

    files: dict[str, dict[str, str]]
    counts: dict
    policy: dict
    excluded_flags: dict[str, int]
    sources: dict[str, int]
    agreement: dict


def _front_matter(facts: CardFacts) -> dict:
    """The card's YAML metadata: tags and one config per format with its split files.

    Splits without rows are left out (`datasets` refuses a split that yields no data), and so
    are formats without any; `dpo` is the default config when it has rows, else the first.
    """
    configs = [
        {
            "config_name": fmt,
            "data_files": [
                {"split": split, "path": path}
                for split, path in splits.items()
                if facts.counts[split][fmt]
            ],
        }
        for fmt, splits in facts.files.items()
    ]
    configs = [config for config in configs if config["data_files"]]
    names = [config["config_name"] for config in configs]
    default = DEFAULT_CONFIG if DEFAULT_CONFIG in names else names[0]
    configs[names.index(default)]["default"] = True
    return {"tags": ["prefstudio", "preference", *facts.files], "configs": configs}


def _figure(value: float | None) -> str:
    """A share or kappa for the card; n/a when undefined."""
    return "n/a" if value is None else f"{value:.3f}"


def _cell(value: object) -> str:
    """A table cell: lists joined by commas, None as `none`.

    >>> _cell(["empty", "duplicate"]), _cell(None), _cell(0.8)
    ('empty, duplicate', 'none', '0.8')
    """
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value) or "none"
    return "none" if value is None else str(value)


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def _agreement_lines(agreement: dict) -> list[str]:
    """The agreement section: Fleiss' kappa, Cohen's per pair of annotators, votes per annotator."""
    if not agreement["votes"]:
        return ["No human votes were in force when the snapshot was taken."]
    lines = [
        f"Over every label in force when the snapshot was taken: {agreement['votes']} votes by "
        f"{len(agreement['annotators'])} annotator(s); Fleiss' kappa "
        f"{_figure(agreement['fleiss_kappa'])} over {agreement['pairs_with_two_votes']} pairs "
        f"with two or more votes; the chosen response is the longer one in "
        f"{_figure(agreement['chosen_longer_share'])} of {agreement['decided_pairs']} decided pairs.",
        "",
    ]
    rows = [
        (name, f["votes"], _figure(f["majority_agreement"]), _figure(f["left_share"]))
        for name, f in agreement["per_annotator"].items()
    ]
    lines += _table(("annotator", "votes", "agrees with majority", "picks left"), rows)
    if agreement["cohen"]:
        cohen = [
            (" / ".join(c["annotators"]), c["pairs"], _figure(c["agreement"]), _figure(c["kappa"]))
            for c in agreement["cohen"]
        ]
        lines += ["", *_table(("annotators", "shared pairs", "agreement", "Cohen's kappa"), cohen)]
    return lines


def card_text(facts: CardFacts) -> str:
    """The whole card: `---`, YAML front matter, `---`, then the Markdown body."""
    import yaml

    splits = list(next(iter(facts.files.values())))
    counts = [
        (fmt, _DESCRIPTIONS.get(fmt, ""), *(facts.counts[split][fmt] for split in splits))
        for fmt in facts.files
    ]
    excluded = [(kind, facts.excluded_flags.get(kind, 0)) for kind in facts.policy["exclude_flags"]]
    body = [
        "# Preference data snapshot",
        "",
        "An immutable snapshot of a prefstudio store, in the dataset formats of TRL's trainers. "
        "`manifest.json` holds the sha256 of every file; `prefstudio snapshot verify` checks them.",
        "",
        "```python",
        "from datasets import load_dataset",
        f'dpo = load_dataset("path/to/this/folder")  # the {DEFAULT_CONFIG} config',
        'kto = load_dataset("path/to/this/folder", "kto")',
        "```",
        "",
        "## Rows",
        "",
        *_table(("config", "holds", *splits), counts),
        "",
        "Pairs under the policy: "
        + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in facts.counts["pairs"].items())
        + ".",
        "",
        "## Policy",
        "",
        *_table(("setting", "value"), list(facts.policy.items())),
        "",
        "## Flags excluded",
        "",
        *(
            _table(("flag", "decided pairs excluded"), excluded)
            if excluded
            else ["No flag excluded pairs under this policy."]
        ),
        "",
        "## Sources",
        "",
        *(
            _table(("prompt source", "pairs with a preference row"), list(facts.sources.items()))
            if facts.sources
            else ["No preference rows."]
        ),
        "",
        "## Annotator agreement",
        "",
        *_agreement_lines(facts.agreement),
    ]
    metadata = yaml.safe_dump(_front_matter(facts), sort_keys=False, allow_unicode=True)
    return f"---\n{metadata}---\n\n" + "\n".join(body) + "\n"


def write_card(folder: Path, facts: CardFacts) -> Path:
    """Write the dataset card into `folder`; return its path."""
    path = folder / CARD_FILE
    path.write_text(card_text(facts), encoding="utf-8")
    return path
