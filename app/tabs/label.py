"""The Label tab: compare two anonymous responses, rate one, or rank several, by mouse or keyboard."""

from __future__ import annotations

import time

import gradio as gr

from app.context import AppContext
from app.safe_text import chat_view, error, literal, markdown_view, render, shows_errors
from app.tabs.guidelines import create_guidelines_panel
from curation.judgments import shown_suggestion
from curation.labelling import (
    annotator_progress,
    next_prompt_to_rank,
    next_response_to_rate,
    record_edit,
    record_label,
    record_ranking,
    record_thumb,
    undo_last,
)
from curation.queue import ServedPair, next_pair_for

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


def create_label_tab(ctx: AppContext) -> None:
    """Build the Label tab: guidelines, a mode switch, then the compare, thumbs and rank views."""
    create_guidelines_panel(ctx)
    gr.Markdown(SHORTCUT_HELP, elem_id="shortcut-help")
    mode = gr.Radio(["Compare", "Thumbs", "Rank"], value="Compare", label="Mode", elem_id="mode")
    progress = gr.Markdown(elem_id="progress")
    session = gr.State(lambda: {"started": time.time(), "count": 0})

    with gr.Column(visible=True) as compare_view:
        pair_id = gr.State(None)
        side_ids = gr.State({})
        side_texts = gr.State({})  # the responses as written, for the edit box
        prompt = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="prompt")
        suggestion = markdown_view(elem_id="suggestion")
        with gr.Row(equal_height=True):
            gr.Markdown("**Response A**")
            gr.Markdown("**Response B**")
        with gr.Row(equal_height=True):
            left = markdown_view(
                label="Response A", max_height=420, elem_id="response-a", container=True
            )
            right = markdown_view(
                label="Response B", max_height=420, elem_id="response-b", container=True
            )
        with gr.Row():
            vote_a = gr.Button("A is better [1]", elem_id="vote-a", variant="primary")
            vote_b = gr.Button("B is better [2]", elem_id="vote-b", variant="primary")
            vote_tie = gr.Button("Tie [3]", elem_id="vote-tie")
            vote_bad = gr.Button("Both bad [4]", elem_id="vote-both-bad")
            vote_skip = gr.Button("Skip [s]", elem_id="vote-skip")
            undo = gr.Button("Undo [u]", elem_id="undo", variant="secondary")
        with gr.Row():
            strength = gr.Radio(
                ["slight", "clear"], value=None, label="Strength (optional)", elem_id="strength"
            )
            rationale = gr.Textbox(label="Rationale (optional)", lines=1, elem_id="rationale")
        edit_open = gr.Button("Edit a response [e]", elem_id="edit-open", size="sm")
        with gr.Group(visible=False) as edit_box:
            edit_side = gr.Radio(["A", "B"], value="A", label="Rewrite", elem_id="edit-side")
            edit_text = gr.Textbox(label="Better response", lines=6, elem_id="edit-text")
            edit_save = gr.Button("Save edit as a better response", elem_id="edit-save")

    with gr.Column(visible=False) as thumbs_view:
        thumb_id = gr.State(None)
        thumb_prompt = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="thumb-prompt")
        thumb_text = markdown_view(
            label="Response", max_height=420, container=True, elem_id="thumb-text"
        )
        with gr.Row():
            thumb_up = gr.Button("Good [y]", elem_id="thumb-up", variant="primary")
            thumb_down = gr.Button("Bad [n]", elem_id="thumb-down")

    with gr.Column(visible=False) as rank_view:
        rank_task = gr.State(None)
        rank_prompt = chat_view(**PROMPT_VIEW, label="Prompt", elem_id="rank-prompt")
        rank_list = markdown_view(max_height=500, container=True, elem_id="rank-list")
        rank_order = gr.Textbox(label="Order, best first (e.g. 2,1,3)", elem_id="rank-order")
        rank_save = gr.Button("Save ranking", elem_id="rank-save", variant="primary")

    compare_outputs = [
        pair_id,
        side_ids,
        side_texts,
        prompt,
        left,
        right,
        strength,
        rationale,
        progress,
        suggestion,
    ]

    def show_pair(user: str, pair: ServedPair | None, sess: dict) -> list:
        """Component values for a served pair (or the end of the queue)."""
        status = _progress_text(ctx, user, sess)
        if pair is None:
            return [None, {}, {}, [], "*Nothing left to label.*", "", None, "", status, ""]
        sides = {"A": pair.left_id, "B": pair.right_id}
        texts = {"A": pair.left, "B": pair.right}
        messages = _chat(pair.messages)
        hint = _suggestion_text(ctx, pair)
        left_right = [render(pair.left), render(pair.right)]
        return [pair.pair_id, sides, texts, messages, *left_right, None, "", status, hint]

    def load_pair(sess: dict, request: gr.Request) -> list:
        user = ctx.require_user(request, "annotator")
        return show_pair(user, next_pair_for(ctx.store, user), sess)

    def vote(choice: str):
        @shows_errors
        def handler(pid, how, why, sess, request: gr.Request) -> list:
            user = ctx.require_user(request, "annotator")
            if pid is None:
                raise gr.Error("No pair is shown; reload the page.")
            record_label(
                ctx.store,
                user,
                pid,
                choice,
                strength=how if choice in "ab" else None,
                rationale=why or None,
            )
            sess["count"] += 1
            return [*show_pair(user, next_pair_for(ctx.store, user), sess), sess]

        return handler

    @shows_errors
    def undo_label(sess: dict, request: gr.Request) -> list:
        user = ctx.require_user(request, "annotator")
        pair = undo_last(ctx.store, user)
        if pair is None:
            gr.Warning("Nothing to undo.")
            pair = next_pair_for(ctx.store, user)
        else:
            sess["count"] = max(sess["count"] - 1, 0)
        return [*show_pair(user, pair, sess), sess]

    def open_edit(texts: dict, side: str, request: gr.Request) -> dict:
        ctx.require_user(request, "annotator")
        return {edit_box: gr.Group(visible=True), edit_text: texts.get(side, "")}

    @shows_errors
    def save_edit(sides: dict, side: str, text: str, request: gr.Request) -> dict:
        user = ctx.require_user(request, "annotator")
        if side not in sides:
            raise gr.Error("No pair is shown to edit.")
        record_edit(ctx.store, user, sides[side], text)
        gr.Info("Edit saved as a better response.")
        return {edit_box: gr.Group(visible=False), edit_text: ""}

    for button, choice in (
        (vote_a, "a"),
        (vote_b, "b"),
        (vote_tie, "tie"),
        (vote_bad, "both_bad"),
        (vote_skip, "skip"),
    ):
        button.click(
            vote(choice), [pair_id, strength, rationale, session], [*compare_outputs, session]
        )
    undo.click(undo_label, [session], [*compare_outputs, session])
    edit_open.click(open_edit, [side_texts, edit_side], [edit_box, edit_text])
    edit_side.change(open_edit, [side_texts, edit_side], [edit_box, edit_text])
    edit_save.click(save_edit, [side_ids, edit_side, edit_text], [edit_box, edit_text])

    def show_thumb(user: str, sess: dict) -> list:
        task = next_response_to_rate(ctx.store, user)
        status = _progress_text(ctx, user, sess)
        if task is None:
            return [None, [], "*Nothing left to rate.*", status]
        return [task["response_id"], _chat(task["prompt"]), render(task["text"]), status]

    def thumb(value: bool):
        @shows_errors
        def handler(rid, sess, request: gr.Request) -> list:
            user = ctx.require_user(request, "annotator")
            if rid is None:
                raise gr.Error("No response is shown.")
            record_thumb(ctx.store, user, rid, value)
            sess["count"] += 1
            return [*show_thumb(user, sess), sess]

        return handler

    thumb_outputs = [thumb_id, thumb_prompt, thumb_text, progress]
    thumb_up.click(thumb(True), [thumb_id, session], [*thumb_outputs, session])
    thumb_down.click(thumb(False), [thumb_id, session], [*thumb_outputs, session])

    def show_rank(user: str) -> list:
        task = next_prompt_to_rank(ctx.store, user)
        if task is None:
            return [None, [], "*No prompt with 3 or more responses is left to rank.*", ""]
        listing = "<hr>".join(
            render(f"**Response {number}**") + render(r["text"])
            for number, r in enumerate(task["responses"], 1)
        )
        return [task, _chat(task["prompt"]), listing, ""]

    @shows_errors
    def save_rank(task, order: str, sess: dict, request: gr.Request) -> list:
        user = ctx.require_user(request, "annotator")
        if task is None:
            raise gr.Error("No prompt is shown to rank.")
        try:
            numbers = [int(part) for part in order.replace(" ", "").split(",") if part]
            ids = [task["responses"][n - 1]["response_id"] for n in numbers if n >= 1]
        except (ValueError, IndexError):
            message = f"Write the response numbers best first, like 2,1,3; got {order!r}."
            raise error(message) from None
        if len(ids) != len(task["responses"]):
            raise gr.Error(f"Rank all {len(task['responses'])} responses, each once.")
        record_ranking(ctx.store, user, task["prompt_id"], ids)
        sess["count"] += 1
        return [*show_rank(user), sess]

    rank_outputs = [rank_task, rank_prompt, rank_list, rank_order]
    rank_save.click(save_rank, [rank_task, rank_order, session], [*rank_outputs, session])

    def switch_mode(chosen: str, sess: dict, request: gr.Request) -> dict:
        user = ctx.require_user(request, "annotator")
        views = {compare_view: "Compare", thumbs_view: "Thumbs", rank_view: "Rank"}
        updates = {view: gr.Column(visible=name == chosen) for view, name in views.items()}
        if chosen == "Thumbs":
            updates.update(zip(thumb_outputs, show_thumb(user, sess), strict=True))
        elif chosen == "Rank":
            updates.update(zip(rank_outputs, show_rank(user), strict=True))
        return updates

    mode.change(
        switch_mode,
        [mode, session],
        [compare_view, thumbs_view, rank_view, *thumb_outputs, *rank_outputs],
    )
    ctx.on_page_load(load_pair, [session], compare_outputs)
