"""py-wordcount: counts the words of a text, or of a web page fetched through the host."""

import html
import re
from collections import Counter

import chitin_sdk as chitin

WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
SKIPPED = re.compile(r"<(script|style|head|noscript)\b.*?</\1\s*>", re.S | re.I)
TAG = re.compile(r"<[^>]*>")


def page_text(response: chitin.Response) -> str:
    """The readable text of a response: HTML loses its tags, anything else is taken as is."""
    body = response.text()
    if "html" not in (response.header("content-type") or "").lower():
        return body
    return html.unescape(TAG.sub(" ", SKIPPED.sub(" ", body)))


@chitin.tool(
    "word_count",
    "Counts the words, lines and characters of a text, or of the web page at `url`, and lists "
    "its most frequent words. Give exactly one of `text` and `url`.",
    {
        "type": "object",
        "properties": {
            "text": {"type": "string", "description": "The text to count."},
            "url": {"type": "string", "description": "An http(s) URL whose page to count."},
            "top": {
                "type": "integer",
                "minimum": 0,
                "maximum": 50,
                "description": "How many of the most frequent words to list.",
            },
        },
        "additionalProperties": False,
    },
)
def word_count(args, ctx):
    if ("text" in args) == ("url" in args):
        raise chitin.InvalidArguments("give exactly one of `text` and `url`")
    if "url" in args:
        response = chitin.http.get(args["url"])
        if not response.ok:
            raise chitin.ToolFailed(f"{response.final_url} answered HTTP {response.status}")
        content = page_text(response)
        chitin.log.info(f"{ctx.call_id}: counting {len(content)} characters from {response.final_url}")
    else:
        content = args["text"]
    top = args.get("top")
    if top is None:
        top = int(chitin.config.get("top_words", "5"))
    words = [w.lower() for w in WORD.findall(content)]
    return {
        "words": len(words),
        "lines": len(content.splitlines()),
        "characters": len(content),
        "top": [[word, n] for word, n in Counter(words).most_common(top)],
    }


# The export componentize-py looks for: lists and dispatches the tools declared above.
Tool = chitin.Tool
