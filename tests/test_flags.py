"""Quality flags on pairs: one hand-built case per kind, reruns, dismissal and exclusion."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from curation import Store, import_paths, store_stats
from curation.labelling.accounts import add_user
from curation.quality.curate import curate
from curation.quality.flags import FlagError, FlagRules, dismiss_flags, exclude_pairs, flagged_pairs

ANSWER = (
    "A refrigerator pumps heat out of the box: the compressor squeezes a refrigerant so it "
    "gets hot, the coils at the back shed that heat into the room, and the thermostat starts "
    "the cycle whenever the inside warms past its setting."
)
LONG = (
    "Explain in plain words how a refrigerator keeps food cold, what the compressor does, "
    "why the coils at the back feel warm, and how the thermostat decides when to run"
)
# One pair per case, keyed by its prompt; the import labels chosen over rejected.
CASES = {
    "clean": ("Capital of France?", "Paris.", "Lyon, obviously."),
    "identical": ("Say yes.", "Yes.", "  YES. "),
    "near_identical": ("How does a fridge work?", ANSWER, ANSWER.replace("setting.", "set point.")),
    "empty": ("Say something.", "Something.", " \n\t\u3000"),
    "role_marker": ("Greet me.", "Hello!", "Hello!\nHuman: and now?\nAssistant: bye."),
    "chat_token": ("Wave.", "*waves*", "<|im_start|>assistant\n*waves*"),
    "code_fence": ("Print one.", "```python\nprint('one')\n```", "Here:\n```python\nprint(1)\n"),
    "duplicate": ("Name a colour.", "Blue.", "Seven."),
    "duplicate_twin": ("name a  colour.", "seven.", "blue."),
    "near_duplicate": (LONG, "It moves heat outside.", "It is cold."),
    "near_duplicate_twin": (LONG + " again", "It moves heat outside.", "It is cold."),
    "label_conflict": ("Pick a number.", "Three.", "Four."),
    "judge_disagrees": ("Best pet?", "A cat.", "A rock."),
}
EXPECTED = {
    "clean": set(),
    "identical": {"identical"},
    "near_identical": {"near_identical"},
    "empty": {"empty"},
    "role_marker": {"role_marker"},
    "chat_token": {"role_marker"},
    "code_fence": {"truncated"},
    "duplicate": set(),  # the representative of its cluster (or its twin is: see below)
    "duplicate_twin": {"duplicate"},
    "near_duplicate": set(),
    "near_duplicate_twin": {"near_duplicate"},
    "label_conflict": {"label_conflict"},
    "judge_disagrees": {"judge_disagrees"},
}


def pair_of(store, case: str) -> str:
    """The id of the pair built for `case`."""
    prompt, chosen, _ = CASES[case]
    return store.con.execute(
        "SELECT p.id FROM pairs p JOIN prompts q ON q.id = p.prompt_id "
        "JOIN responses r ON r.id IN (p.response_a, p.response_b) "
        "WHERE json_extract_string(q.messages, '$[0].content') = ? AND r.text = ?",
        [prompt, chosen],
    ).fetchall()[0][0]


def side_of(store, case: str, which: str = "chosen") -> str:
    """'a' or 'b': where the case's chosen (or rejected) response sits in its pair."""
    _, chosen, _ = CASES[case]
    a_text = store.con.execute(
        "SELECT r.text FROM pairs p JOIN responses r ON r.id = p.response_a WHERE p.id = ?",
        [pair_of(store, case)],
    ).fetchall()[0][0]
    chosen_side = "a" if a_text == chosen else "b"
    return chosen_side if which == "chosen" else {"a": "b", "b": "a"}[chosen_side]


def add_vote(store, case: str, annotator: str, which: str) -> None:
    """A label in force by `annotator` for the case's chosen or rejected response."""
    store.con.execute(
        "INSERT INTO labels (pair_id, annotator, choice, shown_order) VALUES (?, ?, ?, 'ab')",
        [pair_of(store, case), annotator, side_of(store, case, which)],
    )


def add_judgment(store, case: str, judge_key: str, which: str) -> None:
    """A judge's verdict for the case's chosen or rejected response."""
    store.con.execute(
        "INSERT INTO judgments (pair_id, judge_key, p_a, choice) VALUES (?, ?, 0.9, ?)",
        [pair_of(store, case), judge_key, side_of(store, case, which)],
    )


def flags_by_case(store) -> dict[str, set[str]]:
    """The undismissed flag kinds of each case's pair."""
    found = {}
    for case in CASES:
        rows = store.con.execute(
            "SELECT kind FROM flags WHERE subject_id = ? AND dismissed_at IS NULL",
            [pair_of(store, case)],
        ).fetchall()
        found[case] = {r[0] for r in rows}
    return found


@pytest.fixture
def cases(store, write_jsonl):
    """A store holding every case, with extra votes and judgments where a case needs them."""
    records = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in CASES.values()]
    import_paths(store, [write_jsonl("cases.jsonl", records)])
    add_vote(store, "label_conflict", "alice", "rejected")
    add_vote(store, "judge_disagrees", "alice", "chosen")
    for key in ("judge-1", "judge-2"):
        add_judgment(store, "judge_disagrees", key, "rejected")
    add_judgment(store, "clean", "judge-1", "chosen")
    add_user(store, "boss", "admin", "secret-password")
    add_user(store, "ann", "annotator", "secret-password")
    return store


def test_every_case_gets_exactly_its_flags(cases):
    report = curate(cases)
    found = flags_by_case(cases)
    for case in ("duplicate", "near_duplicate"):  # either twin may be the representative
        twin = f"{case}_twin"
        if found[case]:
            found[case], found[twin] = found[twin], found[case]
    assert found == EXPECTED
    kinds = [k for expected in EXPECTED.values() for k in expected]
    assert report.flags == {k: kinds.count(k) for k in sorted(set(kinds))}


def test_flag_details_say_which_response_and_why(cases):
    curate(cases)
    details = {(f["kind"], f["pair_id"]): f["detail"] for f in flagged_pairs(cases)}
    empty_side = side_of(cases, "empty", "rejected")
    assert details["empty", pair_of(cases, "empty")] == f"response {empty_side} is empty"
    assert "Human:" in details["role_marker", pair_of(cases, "role_marker")]
    assert "unclosed code block" in details["truncated", pair_of(cases, "code_fence")]
    assert "judges prefer" in details["judge_disagrees", pair_of(cases, "judge_disagrees")]
    twins = {pair_of(cases, "duplicate"), pair_of(cases, "duplicate_twin")}
    [(flagged, detail)] = [(p, d) for (k, p), d in details.items() if k == "duplicate"]
    assert detail == f"same as pair {(twins - {flagged}).pop()}"


def test_truncation_by_length_and_by_generation_limit(store, write_jsonl):
    records = [
        {"prompt": "Why?", "chosen": "Because the engine needs fuel and", "rejected": "Fuel."},
        {"prompt": "How?", "chosen": "With care.", "rejected": "Slowly and"},
    ]
    import_paths(store, [write_jsonl("t.jsonl", records)])
    store.con.execute(
        """UPDATE responses SET meta = '{"finished": false, "new_tokens": 256}'
        WHERE text = 'With care.'"""
    )
    curate(store, rules=FlagRules(truncation_tokens=5))
    details = sorted(f["detail"] for f in flagged_pairs(store, "truncated"))
    assert len(details) == 2
    assert "ends mid-sentence after 9 tokens" in details[0]  # 33 characters, 4 per token
    assert "stopped at the generation limit" in details[1]  # "Slowly and" is too short


def test_too_long_counts_prompt_and_longer_response(store, write_jsonl):
    records = [
        {"prompt": "x" * 40, "chosen": "y" * 41, "rejected": "z"},  # 10 + 11 tokens
        {"prompt": "x" * 40, "chosen": "y" * 40, "rejected": "z"},  # 10 + 10 tokens
    ]
    import_paths(store, [write_jsonl("t.jsonl", records)])
    curate(store, rules=FlagRules(max_tokens=20))
    [flag] = flagged_pairs(store, "too_long")
    side = "a" if flag["response_a"] == "y" * 41 else "b"
    assert flag["detail"] == f"about 21 tokens (prompt 10 + response {side} 11) > 20"


def test_too_long_can_count_with_a_tokenizer(store, write_jsonl):
    import_paths(
        store, [write_jsonl("t.jsonl", [{"prompt": "a b c", "chosen": "d e", "rejected": "f"}])]
    )

    def count_words(texts: list[str]) -> list[int]:
        return [len(t.split()) for t in texts]

    assert curate(store, rules=FlagRules(max_tokens=4, count_tokens=count_words)).flags == {
        "too_long": 1
    }
    assert curate(store, rules=FlagRules(max_tokens=5, count_tokens=count_words)).flags == {}


def test_rerun_keeps_flag_ids_and_changes_nothing(cases):
    curate(cases)
    first = cases.con.execute("SELECT * FROM flags ORDER BY id").fetchall()
    curate(cases)
    assert cases.con.execute("SELECT * FROM flags ORDER BY id").fetchall() == first


def test_flags_that_no_longer_apply_go_away(cases):
    curate(cases)
    add_vote(cases, "label_conflict", "bob", "chosen")
    add_vote(cases, "label_conflict", "carol", "chosen")
    assert curate(cases).flags["label_conflict"] == 1  # still 2 a / 1 b: disagreement stays
    cases.con.execute("DELETE FROM judgments")
    assert "judge_disagrees" not in curate(cases).flags


def test_dismissed_flag_stays_dismissed_across_reruns(cases):
    curate(cases)
    [flag] = flagged_pairs(cases, "identical")
    assert dismiss_flags(cases, [flag["flag_id"]], by="boss") == 1
    assert "identical" not in curate(cases).flags
    row = cases.con.execute(
        "SELECT dismissed_by, dismissed_at IS NOT NULL FROM flags WHERE id = ?", [flag["flag_id"]]
    ).fetchall()
    assert row == [("boss", True)]
    assert "identical" not in store_stats(cases)["flags"]


def test_only_admins_dismiss_or_exclude(cases):
    curate(cases)
    flag_id = flagged_pairs(cases, "empty")[0]["flag_id"]
    with pytest.raises(FlagError, match="only an admin"):
        dismiss_flags(cases, [flag_id], by="ann")
    with pytest.raises(FlagError, match="only an admin"):
        exclude_pairs(cases, [pair_of(cases, "clean")], by="nobody")
    with pytest.raises(FlagError, match="do not exist"):
        dismiss_flags(cases, [flag_id, 10**9], by="boss")


def test_excluded_pairs_are_flagged_and_survive_curation(cases):
    clean = pair_of(cases, "clean")
    assert exclude_pairs(cases, [clean], by="boss", reason="off-topic") == 1
    assert exclude_pairs(cases, [clean], by="boss") == 0
    assert curate(cases).flags["excluded"] == 1
    [flag] = flagged_pairs(cases, "excluded")
    assert flag["detail"] == "excluded by boss: off-topic" and flag["pair_id"] == clean


def test_curate_json_flags_match_stats_json(cases, db_path):
    cases.close()
    runner = CliRunner()
    curated = runner.invoke(main, ["curate", "--db", str(db_path), "--json"])
    assert curated.exit_code == 0, curated.output
    stats = runner.invoke(main, ["stats", "--db", str(db_path), "--json"])
    curate_json, stats_json = json.loads(curated.stdout), json.loads(stats.stdout)
    assert curate_json["flags"] == stats_json["flags"] and curate_json["flags"]["duplicate"] == 1
    assert curate_json["clusters"]["pair"]["exact"] == {"clusters": 1, "duplicates": 1}


def test_cli_counts_tokens_with_a_models_tokenizer(db_path, write_jsonl, tiny_lm_dir):
    from training.models import token_counter

    record = {
        "prompt": "Tell me about tokenizers, please.",
        "chosen": "They split text.",
        "rejected": "No.",
    }
    with Store(db_path) as store:
        import_paths(store, [write_jsonl("t.jsonl", [record])])
    tokens = sum(token_counter(tiny_lm_dir)([record["prompt"], record["chosen"]]))
    characters_estimate = -(-len(record["prompt"]) // 4) - (-len(record["chosen"]) // 4)
    assert tokens != characters_estimate  # so the flag below can only come from the tokenizer

    def too_long_flags(max_tokens: int) -> int:
        arguments = ["curate", "--db", str(db_path), "--json", "--max-tokens", str(max_tokens)]
        result = CliRunner().invoke(main, [*arguments, "--tokenizer", str(tiny_lm_dir)])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["flags"].get("too_long", 0)

    assert too_long_flags(tokens - 1) == 1
    assert too_long_flags(tokens) == 0
