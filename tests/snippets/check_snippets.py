#!/usr/bin/env python3
"""Compiles every C++ example of the README and of the public headers' opening comments.

  check_snippets.py --cxx clang++-19 --source <repo> [--print] [-- extra compiler flags]

The README's ```cpp blocks and the headers' example blocks (a run of `//   ` lines after an
empty `//` line in a header's comments) are extracted as they are, each into a namespace of
its own, in two translation units (README.md's, the headers'), with #line directives so that
a diagnostic names the README or header line it is about. Each unit is compiled with
-Wall -Wextra -Werror (-fsyntax-only); the test fails on any diagnostic.

An example is a fragment: it uses names the reader supplies (`url`, `fetch`, `db`). Those
are declared in readme_context.hpp and headers_context.hpp, next to this script. A README
example sees the examples before it (the README builds its types up section by section); a
context section headed `// after: <text>` is placed after the first example containing
<text> (it may use that example's types); the section headed `// locals:` is declared at the
start of every example's body (for names an example captures by value). Within an example, the leading declarations
(types, functions, namespace-scope variables up to the last type or function definition)
stay at namespace scope and the statements after them become the body of a coroutine
returning aw::task<>. Placeholders: a line that is only `...` is dropped, and `{ ... }` is an
empty body (`{ co_return; }` for a coroutine lambda). Variables an example declares and does
not use are the reader's: -Wunused-variable and -Wunused-but-set-variable are off.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "."  # the source tree (--source)


class Snippet:
    def __init__(self, path, line, text):
        self.path = path  # relative to the source tree
        self.line = line  # 1-based line of the snippet's first line
        self.text = text


def readme_snippets(source):
    out = []
    lines = open(os.path.join(source, "README.md"), encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            start = i + 1
            j = start
            while lines[j].strip() != "```":
                j += 1
            out.append(Snippet("README.md", start + 1, "\n".join(lines[start:j])))
            i = j
        i += 1
    return out


def header_snippets(source):
    out = []
    root = os.path.join(source, "include", "aw")
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "detail")
        for name in sorted(filenames):
            if not name.endswith(".hpp"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, source)
            lines = open(path, encoding="utf-8").read().split("\n")
            i = 0
            while i < len(lines):
                if lines[i].startswith("//   ") and i > 0 and lines[i - 1] == "//":
                    j = i
                    while j < len(lines) and lines[j].startswith("//   "):
                        j += 1
                    body = [l[5:] for l in lines[i:j]]
                    text = "\n".join(body)
                    if not re.search("[├│└]", text):  # a diagram, not code
                        out.append(Snippet(rel, i + 1, text))
                    i = j
                else:
                    i += 1
    return out


def fill_placeholders(text):
    lines = []
    for l in text.split("\n"):
        if l.strip() == "..." or l.strip().startswith("... ("):
            lines.append("")  # keep the line count: #line stays right
            continue
        # A coroutine lambda whose body is left out: its parameters are the elided body's to use.
        m = re.search(r"\(([^()]*)\)(\s*-> aw::task<>\s*)\{ \.\.\. \}", l)
        if m:
            params = ", ".join("[[maybe_unused]] " + p.strip() for p in m.group(1).split(",") if p.strip())
            l = l[: m.start()] + "(" + params + ")" + m.group(2) + "{ co_return; }" + l[m.end() :]
        l = l.replace("{ ... }", "{}")
        l = re.sub(r"= \.\.\.;", "= {};", l)
        lines.append(l)
    return "\n".join(lines)


def strip_comments_and_strings(text):
    # Same length as text, with comments and literals blanked, for the depth scan below.
    out = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n - 1) - i - 1) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)[:n]


DECL_START = re.compile(r"^\s*(template\b|struct\b|class\b|using\b|namespace\b|static_assert\b|enum\b)")
CONTROL = re.compile(r"^\s*(if|for|while|switch|try|do|return|co_return|co_await|co_yield|throw|else)\b")
FUNCTION = re.compile(r"^\s*[\w:<>,&*\s]+?[\s&*>]([\w:~]+)\s*\(")


def split_items(text):
    """Splits a snippet at depth-0 statement boundaries: [(start, end)] offsets."""
    clean = strip_comments_and_strings(text)
    items = []
    depth = 0
    start = 0
    i = 0
    while i < len(clean):
        c = clean[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0 and c == "}":
                rest = clean[i + 1 :].lstrip(" \t")
                # `};`, `});`, `} catch`, `} else`: the item goes on.
                if not (rest.startswith(";") or rest.startswith(")") or rest.startswith(",") or re.match(r"(catch|else)\b", rest)):
                    items.append((start, i + 1))
                    start = i + 1
        elif c == ";" and depth == 0:
            items.append((start, i + 1))
            start = i + 1
        i += 1
    if text[start:].strip():
        items.append((start, len(text)))
    return items


def is_declaration(item_text):
    t = strip_comments_and_strings(item_text).strip()
    if not t or CONTROL.match(t):
        return False
    if t.startswith("#"):
        return True
    if DECL_START.match(t):
        return True
    head = t.split("{", 1)[0]
    if "=" in head.split("(", 1)[0]:
        return False
    return bool(FUNCTION.match(t))


def has_definition(item_text):
    t = strip_comments_and_strings(item_text).strip()
    if "{" not in t:
        return False
    if DECL_START.match(t):
        return True
    m = FUNCTION.match(t)
    if not m:
        return False
    # A function definition: its body follows the parameter list (and qualifiers).
    depth = 0
    for i in range(m.end() - 1, len(t)):
        depth += {"(": 1, ")": -1}.get(t[i], 0)
        if depth == 0:
            return re.match(r"\s*(const|noexcept|override|final|->\s*[\w:<>&*,\s]+?|\s)*\{", t[i + 1 :]) is not None
    return False


def render(snippet, ns, usings):
    """The snippet as C++: its declarations, then its statements in a coroutine."""
    text = fill_placeholders(snippet.text)
    includes = []
    kept = []
    for k, l in enumerate(text.split("\n")):
        if l.startswith("#include"):
            includes.append(l)
            kept.append("")
        else:
            kept.append(l)
    text = "\n".join(kept)
    items = split_items(text)
    last_decl = -1
    for k, (a, b) in enumerate(items):
        if is_declaration(text[a:b]) and has_definition(text[a:b]):
            last_decl = k
    while last_decl >= 0 and last_decl + 1 < len(items) and DECL_START.match(strip_comments_and_strings(text[slice(*items[last_decl + 1])])):
        last_decl += 1  # a static_assert or a using after the last definition
    # Leading declarations up to the last definition stay at namespace scope.
    split_at = len(text) if last_decl == len(items) - 1 else (items[last_decl + 1][0] if last_decl >= 0 else 0)
    if last_decl < 0:
        # No definition: leading declarations of functions (prototypes) still stay outside.
        k = 0
        while k < len(items) and is_declaration(text[items[k][0] : items[k][1]]) and "(" in text[items[k][0] : items[k][1]]:
            k += 1
        split_at = items[k][0] if k < len(items) else len(text)
    decls, body = text[:split_at], text[split_at:]
    line = snippet.line
    out = ([f"namespace {ns} {{"] if ns else []) + [f"using namespace {u};" for u in usings]
    out.append(f'#line {line} "{snippet.path}"')
    out.append(decls)
    if strip_comments_and_strings(body).strip():
        body_line = line + decls.count("\n")
        out.append("[[maybe_unused]] aw::task<> snippet_body() {")
        out.append(LOCALS)
        out.append(f'#line {body_line} "{snippet.path}"')
        out.append(body)
        out.append("co_return;\n}")
    if ns:
        out.append(f"}}  // namespace {ns}")
    return includes, "\n".join(out)


LOCALS = ""  # the context's `// locals:` section, declared at the start of every body


def context_sections(path):
    """[(after-text or None, text)] of a context file; sets LOCALS."""
    global LOCALS
    sections = [[None, []]]
    for l in open(path, encoding="utf-8").read().split("\n"):
        m = re.match(r"^// (after: (.*)|locals:)$", l)
        if m:
            sections.append([m.group(2) or "", []])
        else:
            sections[-1][1].append(l)
    LOCALS = "\n".join(next((t for a, t in sections if a == ""), []))
    return [(a, "\n".join(t)) for a, t in sections if a != ""]


def unit(snippets, context_path, cumulative):
    sections = context_sections(context_path)
    head = sections[0][1]
    pending = sections[1:]
    includes = []
    body = [f'#line 1 "{os.path.relpath(context_path, SOURCE)}"', head]
    names = []
    for k, s in enumerate(snippets):
        ns = f"snippet_{k}"
        # A whole program is a unit of its own (standalone_units); its types are not seen here.
        if not re.search(r"\bint main\(", s.text):
            inc, code = render(s, ns, names if cumulative else [])
            includes += inc
            body.append(code)
            if cumulative:
                names.append(ns)
        for p in list(pending):
            if p[0] in s.text:
                pending.remove(p)
                body.append(f"namespace {ns}_context {{")
                body += [f"using namespace {u};" for u in names]
                body.append(p[1])
                body.append("}")
                if cumulative:
                    names.append(f"{ns}_context")
    for p in pending:
        sys.exit(f"{context_path}: no example contains {p[0]!r}")
    return "\n".join(PRELUDE + sorted(set(includes)) + body) + "\n"


def standalone_units(name, snippets, context_path):
    """A snippet with a main() is a program: compiled alone, at namespace scope."""
    out = []
    head = context_sections(context_path)[0][1]
    for s in snippets:
        if re.search(r"\bint main\(", s.text):
            includes, code = render(s, None, [])
            out.append((f"{s.path}:{s.line}", "\n".join(PRELUDE + includes + [f'#line 1 "{os.path.relpath(context_path, SOURCE)}"', head, code]) + "\n"))
    return out


PRELUDE = ["#include <aw/aw.hpp>", "#include <aw/files.hpp>", "#include <aw/http.hpp>", "#include <aw/mongo.hpp>",
           "#include <aw/net.hpp>", "#include <aw/pg.hpp>", "#include <aw/uring_op.hpp>",
           "#include <aw/testing/virtual_clock.hpp>"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cxx", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--print", action="store_true", help="print the generated units instead of compiling them")
    ap.add_argument("flags", nargs="*")
    args = ap.parse_args()
    source = os.path.abspath(args.source)
    global SOURCE
    SOURCE = source
    readme, headers = readme_snippets(source), header_snippets(source)
    readme_context, headers_context = os.path.join(HERE, "readme_context.hpp"), os.path.join(HERE, "headers_context.hpp")
    units = [("README.md", unit(readme, readme_context, True)), ("the headers", unit(headers, headers_context, False))]
    units += standalone_units("README.md", readme, readme_context) + standalone_units("the headers", headers, headers_context)
    failed = False
    for name, code in units:
        if args.print:
            print(code)
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
            f.write(code)
        cmd = [args.cxx, "-std=c++20", "-fsyntax-only", "-ferror-limit=0", "-Wall", "-Wextra", "-Werror",
               "-Wno-unused-variable", "-Wno-unused-but-set-variable", "-I" + os.path.join(source, "include")] + args.flags + [f.name]
        r = subprocess.run(cmd, cwd=source, capture_output=True, text=True)
        os.unlink(f.name)
        if r.returncode != 0 or r.stderr.strip():
            failed = True
            print(f"== the examples of {name} do not compile cleanly:")
            print(r.stderr)
        else:
            print(f"== the examples of {name}: OK")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
