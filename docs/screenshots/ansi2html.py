#!/usr/bin/env python3
"""Terminal text with ANSI SGR colours (tmux capture-pane -e) to a self-contained HTML page.

Usage: ansi2html.py TITLE < capture.ansi > page.html
Handles what grantcheck writes: reset, bold, dim, italic, underline, the 8/16 colours,
256 colours and RGB; every other escape sequence is dropped.
"""
import html
import re
import sys

PALETTE = ["#1e1e1e", "#e5534b", "#57ab5a", "#c69026", "#539bf5", "#b083f0", "#39c5cf", "#d0d0d0",
           "#636e7b", "#ff938a", "#6bc46d", "#daaa3f", "#6cb6ff", "#dcbdfb", "#56d4dd", "#ffffff"]


def colour256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    grey = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (grey, grey, grey)


def convert(text):
    state = {}
    out = []
    open_span = False
    for part in re.split(r"(\x1b\[[0-9;]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>])", text):
        if not part.startswith("\x1b"):
            out.append(html.escape(part))
            continue
        if not part.endswith("m") or not part.startswith("\x1b["):
            continue
        codes = [int(c) if c else 0 for c in part[2:-1].split(";")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                state = {}
            elif c == 1:
                state["font-weight"] = "bold"
            elif c == 2:
                state["opacity"] = "0.7"
            elif c == 3:
                state["font-style"] = "italic"
            elif c == 4:
                state["text-decoration"] = "underline"
            elif c == 22:
                state.pop("font-weight", None)
                state.pop("opacity", None)
            elif c == 23:
                state.pop("font-style", None)
            elif c == 24:
                state.pop("text-decoration", None)
            elif 30 <= c <= 37 or 90 <= c <= 97:
                state["color"] = PALETTE[c - 30 if c < 90 else c - 82]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                state["background"] = PALETTE[c - 40 if c < 100 else c - 92]
            elif c == 39:
                state.pop("color", None)
            elif c == 49:
                state.pop("background", None)
            elif c in (38, 48) and i + 1 < len(codes):
                key = "color" if c == 38 else "background"
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    state[key] = colour256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    state[key] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                    i += 4
            i += 1
        if open_span:
            out.append("</span>")
            open_span = False
        if state:
            style = ";".join("%s:%s" % kv for kv in sorted(state.items()))
            out.append('<span style="%s">' % style)
            open_span = True
    if open_span:
        out.append("</span>")
    return "".join(out)


def main():
    title = sys.argv[1] if len(sys.argv) > 1 else "terminal"
    text = sys.stdin.read().rstrip("\n") + "\n"
    sys.stdout.write(
        "<!doctype html><html><head><meta charset=utf-8><title>%s</title><style>"
        "body{margin:0;background:#1e1e1e}"
        ".bar{background:#333;color:#bbb;font:13px system-ui,sans-serif;padding:6px 12px}"
        "pre{margin:0;padding:12px 14px;color:#d0d0d0;font:14px/1.35 'DejaVu Sans Mono',monospace;white-space:pre-wrap}"
        "</style></head><body><div class=bar>%s</div><pre>%s</pre></body></html>\n"
        % (html.escape(title), html.escape(title), convert(text))
    )


if __name__ == "__main__":
    main()
