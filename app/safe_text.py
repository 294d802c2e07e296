"""Everything the web UI shows from data or users passes through here.

Text is shown either as plain text, or as Markdown rendered on the server into a few harmless
tags (`SAFE_TAGS`), so the page never receives markup that a file, a model or a user wrote: raw
HTML shows as text, no element gets a style, an image becomes a line of text naming its alt
text and address (the browser fetches nothing), and a link becomes its text followed by its
address (no anchor to click). Gradio's own sanitizer still runs on what arrives, but nothing
depends on it. Toasts (`info`, `warning`, `error`) escape their message, since Gradio inserts
it as HTML. Figures show their texts as written: a `$` in a model's name is not mathtext.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import gradio as gr
from markdown_it import MarkdownIt

from curation.errors import PrefstudioError

if TYPE_CHECKING:
    from markdown_it.token import Token
    from matplotlib.figure import Figure

P = ParamSpec("P")
R = TypeVar("R")

# Every tag `render` can write; attributes: `start` on `ol`, `class` on the outer `div`.
SAFE_TAGS = frozenset({
    "div", "p", "br", "strong", "em", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
})  # fmt: skip
LONGEST_ADDRESS = 80  # longer image and link addresses are cut, ending in "…"
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")  # ASCII punctuation, which Markdown may read


def _address(url: str) -> str:
    """A link or image address as shown in text, cut to LONGEST_ADDRESS characters."""
    return url if len(url) <= LONGEST_ADDRESS else url[: LONGEST_ADDRESS - 1] + "…"


def _image(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """An image as text: `[image: ALT] (ADDRESS)`."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    return html.escape(f"[image: {alt}] ({_address(token.attrGet('src') or '')})")


def _link_open(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """Nothing: a link's text is shown as ordinary text."""
    return ""


def _link_close(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """The address after a link's text, unless the text is the address (an autolink)."""
    start = next(i for i in range(idx - 1, -1, -1) if tokens[i].type == "link_open")
    href = str(tokens[start].attrGet("href") or "")
    if tokens[start].markup in ("autolink", "linkify"):
        return ""
    return html.escape(f" ({_address(href)})")


def _code_block(self: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
    """A fenced or indented code block, without the language class (no highlighter, no
    diagram renderer picks it up)."""
    return f"<pre><code>{html.escape(tokens[idx].content)}</code></pre>\n"


def _cell(tag: str) -> Callable[..., str]:
    """A table cell's opening tag without the alignment style."""
    return lambda self, tokens, idx, options, env: f"<{tag}>"


def _markdown() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML off, single newlines kept."""
    md = MarkdownIt("commonmark", {"html": False, "breaks": True, "linkify": False})
    md.enable(["table", "strikethrough"])
    rules = {
        "image": _image,
        "link_open": _link_open,
        "link_close": _link_close,
        "fence": _code_block,
        "code_block": _code_block,
        "th_open": _cell("th"),
        "td_open": _cell("td"),
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md


_MD = _markdown()


def render(markdown: str) -> str:
    """Markdown as safe HTML on one line (newlines as `&#10;`), in `<div class="safe-text">`.

    One line, so a Markdown component that receives it passes it through as one HTML block.
    """
    body = _MD.render(markdown or "").replace("\n", "&#10;")
    return f'<div class="safe-text">{body}</div>'


def literal(text: object) -> str:
    """`text` for a Markdown template: every ASCII punctuation mark escaped and each run of
    whitespace one space, so it reads as written whatever it holds."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


def text_lines(text: str) -> str:
    """Plain text of one or more lines (a report as the CLI prints it) as safe HTML: each line
    as written, one under the other."""
    return render("  \n".join(literal(line) for line in text.split("\n")))


def plain(text: object) -> str:
    """`text` escaped for a place that inserts it as HTML (Gradio's toasts)."""
    return html.escape(str(text))


def info(message: str) -> None:
    """A gr.Info toast showing `message` as plain text."""
    gr.Info(plain(message))


def warning(message: str) -> None:
    """A gr.Warning toast showing `message` as plain text."""
    gr.Warning(plain(message))


def error(message: object) -> gr.Error:
    """A gr.Error (to raise) showing `message`, or a domain error's message, as plain text."""
    return gr.Error(plain(message))


def shows_errors(handler: Callable[P, R]) -> Callable[P, R]:
    """`handler` with a domain error shown as an error toast of its message, as plain text on
    one line."""

    @functools.wraps(handler)  # Gradio reads the signature through __wrapped__
    def shown(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except PrefstudioError as failure:
            raise error(" ".join(str(failure).split())) from None

    return shown


def markdown_view(**options: Any) -> gr.Markdown:
    """A Markdown component for `render`'s output: Gradio's sanitizer on, LaTeX off."""
    return gr.Markdown(sanitize_html=True, latex_delimiters=[], **options)


def chat_view(**options: Any) -> gr.Chatbot:
    """A Chatbot for messages whose content is `render`'s output (not parsed again)."""
    return gr.Chatbot(render_markdown=False, sanitize_html=True, latex_delimiters=[], **options)


def plain_figure(figure: Figure) -> Figure:
    """`figure` with every text in it shown as written: no mathtext for `$`, no TeX."""
    from matplotlib.text import Text

    for text in figure.findobj(Text):
        text.set_usetex(False)
        text.set_parse_math(False)
    return figure
