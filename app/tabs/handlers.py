"""UI actions as plain functions, and their wiring to a tab's components.

A handler is a module-level function `fn(ctx, user, *inputs) -> {output name: value}` marked
with `@handler(role)`. Calling the marked handler with a context and a gr.Request checks the
role on the server and shows a domain error as one escaped error line, so tests call it with a
real store and no UI. `wire` connects it to an event of a tab: the event's inputs fill the
handler's positional parameters after `user`, Gradio still injects gr.Request, gr.Progress
and gr.EventData, and the name-keyed result goes to the components of the same names. A
`passive` handler (page loads, timers) gives the wrong role gr.skip() instead of an error.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import gradio as gr

from app.context import AppContext, role_allows
from app.safe_text import shows_errors

Outputs = dict[str, Any]
HandlerFn = Callable[..., Outputs | None]


@dataclass(frozen=True)
class Handler:
    """A UI action `fn(ctx, user, *inputs, **fixed)` and the role it needs."""

    fn: HandlerFn
    role: str = "annotator"
    passive: bool = False  # page loads and timers: nothing happens for the wrong role

    def __call__(
        self, ctx: AppContext, request: gr.Request | None, *inputs: Any, **fixed: Any
    ) -> Outputs | None:
        """Run for the user of `request`; None from a passive handler for the wrong role.

        Raises gr.Error for a user who is not logged in or lacks the role, and for a domain
        error (its message, escaped, on one line)."""
        username = getattr(request, "username", None) or ""
        if self.passive and not role_allows(ctx.role_of(username), self.role):
            return None
        return _shown(self.fn, ctx, ctx.require_user(request, self.role), *inputs, **fixed)

    def event(
        self,
        ctx: AppContext,
        names: list[str],
        form: Mapping[str, Any] | None = None,
        fixed: Mapping[str, Any] | None = None,
    ) -> Callable[..., Any]:
        """A Gradio event function for this handler whose outputs are the components `names`,
        in order. With a `form` (components by name, given to Gradio as a set) the handler
        takes one dict of their values by name; `fixed` fills its keyword-only parameters."""
        inputs = _input_parameters(self.fn)
        request_at = next((i for i, p in enumerate(inputs) if p.default is not p.empty), None)
        request_at = len(inputs) if request_at is None else request_at
        request = inspect.Parameter(
            "request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request
        )
        parameters = [*inputs[:request_at], request, *inputs[request_at:]]

        def run(*values: Any) -> Any:
            given = list(values)
            user = given.pop(request_at)
            if form is not None:  # Gradio's dict of the form's values by component
                given[0] = {name: given[0][component] for name, component in form.items()}
            result = self(ctx, user, *given, **(fixed or {}))
            return _by_position(result, names, self.fn.__name__)

        run.__name__ = self.fn.__name__
        run.__doc__ = self.fn.__doc__
        run.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in parameters if p.annotation != p.empty}
        return run


def handler(role: str = "annotator", *, passive: bool = False) -> Callable[[HandlerFn], Handler]:
    """Mark `fn(ctx, user, *inputs)` as a UI action that needs `role` (see `Handler`)."""
    return lambda fn: Handler(fn, role, passive)


def wire(
    ctx: AppContext,
    trigger: Callable[..., Any],
    action: Handler,
    inputs: list[Any] | Mapping[str, Any] | None,
    outputs: Mapping[str, Any],
    **fixed: Any,
) -> None:
    """Run `action` on `trigger` (an event listener such as `button.click`, or
    `ctx.on_page_load`), its results going to `outputs` by name. `inputs` fill the handler's
    parameters in order, or, given by name, its one parameter as a dict (a form)."""
    form = inputs if isinstance(inputs, Mapping) else None
    event = action.event(ctx, list(outputs), form=form, fixed=fixed)
    trigger(event, set(form.values()) if form else inputs, list(outputs.values()))


def on_page_load(
    ctx: AppContext, action: Handler, inputs: list[Any] | None, outputs: Mapping[str, Any]
) -> None:
    """Run `action` each time a page opens, passive: the wrong role gets gr.skip() (see `wire`)."""
    wire(ctx, ctx.on_page_load, replace(action, passive=True), inputs, outputs)


@shows_errors
def _shown(fn: HandlerFn, ctx: AppContext, user: str, *inputs: Any, **fixed: Any) -> Any:
    """`fn`'s result, a domain error raised as an escaped error toast."""
    return fn(ctx, user, *inputs, **fixed)


def _input_parameters(fn: HandlerFn) -> list[inspect.Parameter]:
    """`fn`'s positional parameters after (ctx, user), their annotations resolved so Gradio
    recognises gr.EventData and gr.Progress; keyword-only parameters are fixed at wiring."""
    hints = typing.get_type_hints(fn)
    return [
        p.replace(annotation=hints.get(p.name, p.empty))
        for p in list(inspect.signature(fn).parameters.values())[2:]
        if p.kind is p.POSITIONAL_OR_KEYWORD
    ]


def _by_position(result: Outputs | None, names: list[str], action: str) -> Any:
    """A handler's name-keyed result as Gradio's outputs in order, gr.skip() where a name is
    missing or the handler returned None."""
    result = result or {}
    if unknown := result.keys() - set(names):
        raise ValueError(f"{action} returned outputs it is not wired to: {sorted(unknown)}")
    if not names:
        return None
    values = [result.get(name, gr.skip()) for name in names]
    return values[0] if len(names) == 1 else values


def named(components: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The components of `names`, by name and in that order (a handler's outputs)."""
    return {name: components[name] for name in names}
