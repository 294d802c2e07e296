"""Content ids: the Python and SQL forms of each rule give the same id for the same content."""

from __future__ import annotations

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from curation.io.content_ids import (
    pair_id,
    pair_id_sql,
    prompt_id,
    prompt_id_sql,
    response_id,
    response_id_sql,
)

texts = st.text(min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(texts, texts, st.one_of(st.none(), texts), texts, texts)
def test_python_and_sql_forms_agree(prompt, text, model, first, second):
    con = duckdb.connect()
    values = {"prompt": prompt, "text": text, "first": first, "second": second}
    response_sql = response_id_sql("$prompt", "$text")
    if model is not None:
        values["model"] = model
        response_sql = response_id_sql("$prompt", "$text", "$model")
    sql = f"SELECT {prompt_id_sql('$prompt')}, {response_sql}, {pair_id_sql('$first', '$second')}"
    assert con.execute(sql, values).fetchone() == (
        prompt_id(prompt),
        response_id(prompt, text, model),
        pair_id(first, second),
    )


def test_the_store_names_imported_rows_by_these_rules(store, write_jsonl):
    from curation import import_paths

    import_paths(
        store, [write_jsonl("p.jsonl", [{"prompt": "Hi", "chosen": "A", "rejected": "B"}])]
    )
    pid, messages = store.con.execute("SELECT id, messages::VARCHAR FROM prompts").fetchone()
    assert pid == prompt_id(messages)
    ids = {
        text: rid for rid, text in store.con.execute("SELECT id, text FROM responses").fetchall()
    }
    assert ids == {"A": response_id(pid, "A"), "B": response_id(pid, "B")}
    assert store.con.execute("SELECT id FROM pairs").fetchone() == (pair_id(ids["A"], ids["B"]),)
