"""The one sanitiser for text shown from data or users: Markdown to safe HTML, literal text in
templates, escaped toasts, figures without mathtext."""

from __future__ import annotations

import inspect
import io
from html.parser import HTMLParser

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.safe_text import (
    SAFE_TAGS,
    literal,
    plain,
    plain_figure,
    render,
    shows_errors,
    text_lines,
)
from curation.errors import PrefstudioError

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    '<div style="position:fixed;inset:0;background:red">Session expired</div>',
    "![tracker](http://evil.example/pixel.png)",
    '![tracker](http://evil.example/p.png "t") and ![ref][r]\n\n[r]: http://evil.example/r.png',
    '<a href="http://evil.example/login">log in again</a>',
    "[log in](javascript:alert(1)) [here](http://evil.example) <http://evil.example/auto>",
    "```mermaid\ngraph TD; A-->B\n```",
    "| a | b |\n|--:|:-|\n| <i>1</i> | 2 |",
    "$x$ and $$\\frac{1}{2}$$",
    '<svg onload="window.__pwned=3"><style>body{display:none}</style>',
]
# Strings built from the pieces of Markdown, HTML, links and images.
MARKDOWNISH = st.lists(
    st.sampled_from(
        [
            *"<>/=\"' !()[]:`*_#|-\n\\&;$a1.",
            "style=",
            "img",
            "http://x.example",
            "javascript:",
            "```",
        ]
    )
).map("".join)


class Tags(HTMLParser):
    """The start tags (with attributes) and the text of an HTML fragment."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_safe(rendered: str) -> Tags:
    """Only SAFE_TAGS, no attribute but the wrapper's class and a list's start, one line."""
    assert "\n" not in rendered
    parsed = Tags(rendered)
    for tag, attrs in parsed.tags:
        assert tag in SAFE_TAGS, (tag, rendered)
        allowed = {"div": {"class"}, "ol": {"start"}}.get(tag, set())
        assert set(attrs) <= allowed, (tag, attrs, rendered)
    assert parsed.tags[0] == ("div", {"class": "safe-text"})
    return parsed


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payloads_render_as_text_without_markup(payload):
    parsed = assert_safe(render(payload))
    shown = "".join(parsed.text)
    assert not {"img", "a", "script", "style", "svg"} & {tag for tag, _ in parsed.tags}
    if "evil.example" in payload:  # the address stays readable, as text
        assert "evil.example" in shown


def test_markdown_still_renders():
    parsed = assert_safe(render("**bold** *em* `x<y`\n\n```python\nif a < b:\n    pass\n```"))
    tags = [tag for tag, _ in parsed.tags]
    assert {"strong", "em", "code", "pre"} <= set(tags)
    assert "if a < b:\n    pass" in "".join(parsed.text)  # code keeps its text and lines


def test_images_and_links_become_their_text_and_address():
    shown = "".join(Tags(render("![a cat](http://x.example/c.png) [docs](http://d.example)")).text)
    assert shown.strip() == "[image: a cat] (http://x.example/c.png) docs (http://d.example)"
    long = "http://x.example/" + "a" * 200
    assert len("".join(Tags(render(f"[x]({long})")).text)) < 100


@given(MARKDOWNISH)
def test_any_markdown_renders_to_safe_tags_only(text):
    assert_safe(render(text))


@given(st.text())
def test_any_text_renders_to_safe_tags_only(text):
    assert_safe(render(text))


@given(st.text())
def test_a_literal_reads_as_written(text):
    shown = "".join(assert_safe(render(f"**{literal(text)}**")).text)
    expected = " ".join(text.replace("\x00", "\ufffd").split())
    assert shown.strip("\n") == expected


@given(st.lists(st.text(min_size=1).filter(str.strip), min_size=1, max_size=4))
def test_text_lines_show_each_line_as_written_one_under_the_other(lines):
    lines = [line for line in lines if "\n" not in line and "\r" not in line] or ["x"]
    parsed = assert_safe(text_lines("\n".join(lines)))
    assert [tag for tag, _ in parsed.tags].count("br") == len(lines) - 1
    shown = "".join(parsed.text).strip("\n").split("\n")
    expected = [" ".join(line.replace("\x00", "\ufffd").split()) for line in lines]
    assert [line.strip() for line in shown] == expected


@given(st.text())
def test_plain_text_shows_as_written_when_inserted_as_html(text):
    parsed = Tags(f"<div>{plain(text)}</div>")
    assert parsed.tags == [("div", {})]
    assert "".join(parsed.text) == text


def test_domain_errors_become_escaped_error_toasts():
    import gradio as gr

    @shows_errors
    def handler(name: str, request: gr.Request) -> str:
        raise PrefstudioError(f'field "<a href=http://evil.example>{name}</a>" is unknown')

    with pytest.raises(gr.Error) as raised:
        handler("log in", None)
    assert raised.value.message == (
        "field &quot;&lt;a href=http://evil.example&gt;log in&lt;/a&gt;&quot; is unknown"
    )
    assert list(inspect.signature(handler).parameters) == ["name", "request"]


@pytest.mark.parametrize(
    "name", ["$x$", "$\\frac{$", "cost $5 and $6", "a\\$b$", "^_{}$$", "$\\invalid{x}$"]
)
def test_figures_show_dollar_names_as_written(name):
    from matplotlib.figure import Figure

    figure = Figure()
    axes = figure.subplots()
    axes.bar([0, 1], [1, 2])
    axes.set_xticks([0, 1], [name, "plain"])
    axes.set_title(name)
    axes.legend([name])
    plain_figure(figure).savefig(io.BytesIO(), format="png")  # mathtext would raise or alter
    texts = [t for t in figure.findobj(lambda a: hasattr(a, "get_parse_math")) if t.get_text()]
    assert any(t.get_text() == name for t in texts)
    assert all(t._preprocess_math(t.get_text()) == (t.get_text(), False) for t in texts)
