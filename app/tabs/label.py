"""The Label tab: compare two anonymous responses, rate one, or rank several, by mouse or keyboard."""

from __future__ import annotations

import time
from typing import Any

import gradio as gr

from app.context import AppContext
from app.safe_text import chat_view, error, info, literal, markdown_view, render, warning
from app.tabs.guidelines import create_guidelines_panel
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
from curation.judging.judgments import shown_suggestion
from curation.labelling.queue import ServedPair, next_pair_for
from curation.labelling.votes import (
    annotator_progress,
    next_prompt_to_rank,
    next_response_to_rate,
    record_edit,
    record_label,
    record_ranking,
    record_thumb,
    undo_last,
)

# Key -> id of the button it presses; shown on the page and wired by KEYBOARD_JS.
SHORTCUTS = {
    "1": ("vote-a", "A is better"),
    "2": ("vote-b", "B is better"),
    "3": ("vote-tie", "tie"),
    "4": ("vote-both-bad", "both bad"),
    "s": ("vote-skip", "skip"),
    "u": ("undo", "undo the last label"),
    "e": ("edit-open", "edit a response"),
    "y": ("thumb-up", "thumbs up (Thumbs mode)"),
    "n": ("thumb-down", "thumbs down (Thumbs mode)"),
}
# The prompt grows with its conversation, from one short turn up to a scrolling box. Its text
# can be selected and copied; no copy or share button (a copy button would copy the markup).
PROMPT_VIEW = {"height": None, "min_height": 90, "max_height": 320, "buttons": []}
SHORTCUT_HELP = "Keys: " + " · ".join(f"`{key}` {what}" for key, (_, what) in SHORTCUTS.items())
# Keys press buttons unless the focus is in a text field; Ctrl/Alt/Meta combinations pass.
KEYBOARD_JS = """
document.addEventListener("keydown", (event) => {
  const target = event.target;
  if (event.ctrlKey || event.altKey || event.metaKey) return;
  if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) return;
  const ids = %s;
  const id = ids[event.key.toLowerCase()];
  const button = id && document.getElementById(id);
  if (button && button.offsetParent !== null) { event.preventDefault(); button.click(); }
});
""" % {key: element for key, (element, _) in SHORTCUTS.items()}


def _chat(messages: list[dict]) -> list[dict]:
    """A prompt's messages as the Chatbot shows them, rendered safe (system turns as notes)."""
    return [
        {
            "role": "assistant" if m["role"] == "assistant" else "user",
            "content": render(
                m["content"] if m["role"] != "system" else f"*System:* {m['content']}"
            ),
        }
        for m in messages
    ]


def _progress_text(ctx: AppContext, user: str, session: dict) -> str:
    """Done / assigned for this annotator, and this session's pace."""
    progress = annotator_progress(ctx.store, user)
    minutes = max((time.time() - session["started"]) / 60, 1 / 60)
    pace = session["count"] / minutes
    return (
        f"**{progress['done']}** done of **{progress['assigned']}** assigned · "
        f"this session: {session['count']} labels, {pace:.1f} per minute"
    )


def _suggestion_text(ctx: AppContext, pair: ServedPair) -> str:
    """A judge's verdict on the pair in the sides as shown, when an admin turned suggestions on."""
    suggestion = shown_suggestion(ctx.store, pair)
    if suggestion is None:
        return ""
    choice = suggestion["choice"]
    verdict = "a tie" if choice == "tie" else f"{choice.upper()} is better"
    judge = literal(suggestion["judge"])
    return render(
        f"*Suggestion from judge {judge}:* {verdict} (P(A better) = {suggestion['p_a']:.2f})"
    )


COMPARE = [
    "pair_id",
    "side_ids",
    "side_texts",
    "prompt",
    "left",
    "right",
    "strength",
    "rationale",
    "progress",
    "suggestion",
]
THUMBS = ["thumb_id", "thumb_prompt", "thumb_text", "progress"]
RANK = ["rank_task", "rank_prompt", "rank_list", "rank_order"]
VIEWS = {"compare_view": "Compare", "thumbs_view": "Thumbs", "rank_view": "Rank"}
VOTES = {
    "vote_a": "a",
    "vote_b": "b",
    "vote_tie": "tie",
    "vote_bad": "both_bad",
    "vote_skip": "skip",
}


def _pair_view(ctx: AppContext, user: str, pair: ServedPair | None, session: dict) -> Outputs:
    """The compare view for a served pair (or the end of the queue), and the session."""
    status = _progress_text(ctx, user, session)
    if pair is None:
        empty = [None, {}, {}, [], "*Nothing left to label.*", "", None, "", status, ""]
        return {**dict(zip(COMPARE, empty, strict=True)), "session": session}
    return {
        "pair_id": pair.pair_id,
        "side_ids": {"A": pair.left_id, "B": pair.right_id},
        "side_texts": {"A": pair.left, "B": pair.right},
        "prompt": _chat(pair.messages),
        "left": render(pair.left),
        "right": render(pair.right),
        "strength": None,
        "rationale": "",
        "progress": status,
        "suggestion": _suggestion_text(ctx, pair),
        "session": session,
    }


def _thumb_view(ctx: AppContext, user: str, session: dict) -> Outputs:
    """The thumbs view with the next response to rate (or the end of them)."""
    task = next_response_to_rate(ctx.store, user)
    status = _progress_text(ctx, user, session)
    if task is None:
        values = [None, [], "*Nothing left to rate.*", status]
    else:
        values = [task["response_id"], _chat(task["prompt"]), render(task["text"]), status]
    return dict(zip(THUMBS, values, strict=True))


def _rank_view(ctx: AppContext, user: str) -> Outputs:
    """The rank view with the next prompt to rank, its responses numbered (or none left)."""
    task = next_prompt_to_rank(ctx.store, user)
    if task is None:
        values = [None, [], "*No prompt with 3 or more responses is left to rank.*", ""]
    else:
        listing = "<hr>".join(
            render(f"**Response {number}**") + render(r["text"])
            for number, r in enumerate(task["responses"], 1)
        )
        values = [task, _chat(task["prompt"]), listing, ""]
    return dict(zip(RANK, values, strict=True))


@handler("annotator", passive=True)
def load_pair(ctx: AppContext, user: str, session: dict) -> Outputs:
    """The first pair to compare when the page opens."""
    return _pair_view(ctx, user, next_pair_for(ctx.store, user), session)


@handler("annotator")
def vote(
    ctx: AppContext,
    user: str,
    pair_id: str | None,
    strength: str | None,
    rationale: str,
    session: dict,
    *,
    choice: str,
) -> Outputs:
    """Record `choice` on the shown pair (strength only for a or b) and show the next pair."""
    if pair_id is None:
        raise error("No pair is shown; reload the page.")
    how = strength if choice in "ab" else None
    record_label(ctx.store, user, pair_id, choice, strength=how, rationale=rationale or None)
    session["count"] += 1
    return _pair_view(ctx, user, next_pair_for(ctx.store, user), session)


@handler("annotator")
def undo_label(ctx: AppContext, user: str, session: dict) -> Outputs:
    """Take back this user's last label and show its pair again."""
    pair = undo_last(ctx.store, user)
    if pair is None:
        warning("Nothing to undo.")
        pair = next_pair_for(ctx.store, user)
    else:
        session["count"] = max(session["count"] - 1, 0)
    return _pair_view(ctx, user, pair, session)


@handler("annotator")
def open_edit(ctx: AppContext, user: str, side_texts: dict, side: str) -> Outputs:
    """The edit box, opened on the chosen side's response as written."""
    return {"edit_box": gr.Group(visible=True), "edit_text": side_texts.get(side, "")}


@handler("annotator")
def save_edit(ctx: AppContext, user: str, side_ids: dict, side: str, text: str) -> Outputs:
    """Save the rewritten response as a better one than the shown side's, and close the box."""
    if side not in side_ids:
        raise error("No pair is shown to edit.")
    record_edit(ctx.store, user, side_ids[side], text)
    info("Edit saved as a better response.")
    return {"edit_box": gr.Group(visible=False), "edit_text": ""}


@handler("annotator")
def thumb(
    ctx: AppContext, user: str, response_id: str | None, session: dict, *, value: bool
) -> Outputs:
    """Record a thumb up or down on the shown response and show the next one."""
    if response_id is None:
        raise error("No response is shown.")
    record_thumb(ctx.store, user, response_id, value)
    session["count"] += 1
    return {**_thumb_view(ctx, user, session), "session": session}


@handler("annotator")
def save_rank(ctx: AppContext, user: str, task: dict | None, order: str, session: dict) -> Outputs:
    """Record the ranking written as response numbers, best first, and show the next prompt."""
    if task is None:
        raise error("No prompt is shown to rank.")
    try:
        numbers = [int(part) for part in order.replace(" ", "").split(",") if part]
        ids = [task["responses"][n - 1]["response_id"] for n in numbers if n >= 1]
    except (ValueError, IndexError):
        message = f"Write the response numbers best first, like 2,1,3; got {order!r}."
        raise error(message) from None
    if len(ids) != len(task["responses"]):
        raise error(f"Rank all {len(task['responses'])} responses, each once.")
    record_ranking(ctx.store, user, task["prompt_id"], ids)
    session["count"] += 1
    return {**_rank_view(ctx, user), "session": session}


@handler("annotator")
def switch_mode(ctx: AppContext, user: str, mode: str, session: dict) -> Outputs:
    """Show the chosen mode's view, filled with its first task."""
    shown = {view: gr.Column(visible=name == mode) for view, name in VIEWS.items()}
    if mode == "Thumbs":
        shown.update(_thumb_view(ctx, user, session))
    elif mode == "Rank":
        shown.update(_rank_view(ctx, user))
    return shown


def _compare_view() -> dict[str, Any]:
    """The compare view's components by name: prompt, two sides, votes, strength, edit box."""
    c: dict[str, Any] = {"pair_id": gr.State(None), "side_ids": gr.State({})}
    c["side_texts"] = gr.State({})  # the responses as written, for the edit box
    c["prompt"] = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="prompt")
    c["suggestion"] = markdown_view(elem_id="suggestion")
    with gr.Row(equal_height=True):
        gr.Markdown("**Response A**")
        gr.Markdown("**Response B**")
    with gr.Row(equal_height=True):
        for name, side in (("left", "a"), ("right", "b")):
            c[name] = markdown_view(
                label=f"Response {side.upper()}",
                max_height=420,
                elem_id=f"response-{side}",
                container=True,
            )
    with gr.Row():
        for name, key in zip(VOTES, "1234s", strict=True):
            element, what = SHORTCUTS[key]
            primary = name in ("vote_a", "vote_b")
            label = f"{what[0].upper()}{what[1:]} [{key}]"
            c[name] = gr.Button(
                label, elem_id=element, variant="primary" if primary else "secondary"
            )
        c["undo"] = gr.Button("Undo [u]", elem_id="undo", variant="secondary")
    with gr.Row():
        c["strength"] = gr.Radio(
            ["slight", "clear"], value=None, label="Strength (optional)", elem_id="strength"
        )
        c["rationale"] = gr.Textbox(label="Rationale (optional)", lines=1, elem_id="rationale")
    c["edit_open"] = gr.Button("Edit a response [e]", elem_id="edit-open", size="sm")
    with gr.Group(visible=False) as c["edit_box"]:
        c["edit_side"] = gr.Radio(["A", "B"], value="A", label="Rewrite", elem_id="edit-side")
        c["edit_text"] = gr.Textbox(label="Better response", lines=6, elem_id="edit-text")
        c["edit_save"] = gr.Button("Save edit as a better response", elem_id="edit-save")
    return c


def _thumbs_and_rank_views() -> dict[str, Any]:
    """The thumbs and rank views' components by name, both hidden at first."""
    c: dict[str, Any] = {}
    with gr.Column(visible=False) as c["thumbs_view"]:
        c["thumb_id"] = gr.State(None)
        c["thumb_prompt"] = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="thumb-prompt")
        c["thumb_text"] = markdown_view(
            label="Response", max_height=420, container=True, elem_id="thumb-text"
        )
        with gr.Row():
            c["thumb_up"] = gr.Button("Good [y]", elem_id="thumb-up", variant="primary")
            c["thumb_down"] = gr.Button("Bad [n]", elem_id="thumb-down")
    with gr.Column(visible=False) as c["rank_view"]:
        c["rank_task"] = gr.State(None)
        c["rank_prompt"] = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="rank-prompt")
        c["rank_list"] = markdown_view(max_height=500, container=True, elem_id="rank-list")
        c["rank_order"] = gr.Textbox(label="Order, best first (e.g. 2,1,3)", elem_id="rank-order")
        c["rank_save"] = gr.Button("Save ranking", elem_id="rank-save", variant="primary")
    return c


def create_label_tab(ctx: AppContext) -> None:
    """Build the Label tab: guidelines, a mode switch, then the compare, thumbs and rank views."""
    create_guidelines_panel(ctx)
    gr.Markdown(SHORTCUT_HELP, elem_id="shortcut-help")
    mode = gr.Radio(["Compare", "Thumbs", "Rank"], value="Compare", label="Mode", elem_id="mode")
    c: dict[str, Any] = {"progress": gr.Markdown(elem_id="progress")}
    c["session"] = session = gr.State(lambda: {"started": time.time(), "count": 0})
    with gr.Column(visible=True) as c["compare_view"]:
        c.update(_compare_view())
    c.update(_thumbs_and_rank_views())

    compared = named(c, *COMPARE, "session")
    for button, choice in VOTES.items():
        inputs = [c["pair_id"], c["strength"], c["rationale"], session]
        wire(ctx, c[button].click, vote, inputs, compared, choice=choice)
    wire(ctx, c["undo"].click, undo_label, [session], compared)
    editing = named(c, "edit_box", "edit_text")
    for trigger in (c["edit_open"].click, c["edit_side"].change):
        wire(ctx, trigger, open_edit, [c["side_texts"], c["edit_side"]], editing)
    edited = [c["side_ids"], c["edit_side"], c["edit_text"]]
    wire(ctx, c["edit_save"].click, save_edit, edited, editing)
    for button, value in (("thumb_up", True), ("thumb_down", False)):
        rated = named(c, *THUMBS, "session")
        wire(ctx, c[button].click, thumb, [c["thumb_id"], session], rated, value=value)
    ranked = [c["rank_task"], c["rank_order"], session]
    wire(ctx, c["rank_save"].click, save_rank, ranked, named(c, *RANK, "session"))
    shown = named(c, *VIEWS, *THUMBS, *RANK)
    wire(ctx, mode.change, switch_mode, [mode, session], shown)
    on_page_load(ctx, load_pair, [session], compared)
