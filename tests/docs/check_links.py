#!/usr/bin/env python3
"""Checks that every relative link and image in README.md and docs/**/*.md resolves.

A link is a Markdown inline link or image, `[text](target)` or `![alt](target)`, outside fenced
code blocks and inline code spans. Targets starting with http://, https:// or mailto:, and pure
#anchors, are skipped; a #fragment is stripped. Every other target, taken relative to the file
that holds it, must name an existing file or folder inside the repository. Each one that does
not is printed as `FILE:LINE: TARGET (why)`, and the exit status is 1.

Usage: check_links.py --root REPO      check REPO's README.md and docs/
       check_links.py --self-test      check that a broken link, an escaping link and a good
                                       one are told apart (so the check itself can fail)
Standard library only.
"""

import argparse
import os
import re
import sys
import tempfile

# [text](target "title") or ![alt](target); text may hold one level of brackets (`[a [b]](c)`).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
SKIP = ("http://", "https://", "mailto:")


def markdown_files(root):
    """README.md and every *.md under docs/, sorted."""
    files = [os.path.join(root, "README.md")]
    for folder, _, names in os.walk(os.path.join(root, "docs")):
        files += [os.path.join(folder, n) for n in names if n.endswith(".md")]
    return sorted(f for f in files if os.path.isfile(f))


def links(path):
    """Yields (line number, target) for each inline link or image outside code."""
    fence = None
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            m = FENCE.match(line)
            if m:
                fence = None if fence == m.group(1) else (fence or m.group(1))
                continue
            if fence:
                continue
            for link in LINK.finditer(CODE_SPAN.sub("", line)):
                yield number, link.group(1).strip("<>")


def problem(root, path, target):
    """None if target resolves inside root, else why not."""
    if target.startswith(SKIP) or target.startswith("#"):
        return None
    relative = target.split("#", 1)[0].split("?", 1)[0]
    if not relative:
        return "empty target"
    base = root if relative.startswith("/") else os.path.dirname(path)
    resolved = os.path.realpath(os.path.join(base, relative.lstrip("/")))
    if os.path.commonpath([resolved, os.path.realpath(root)]) != os.path.realpath(root):
        return "outside the repository"
    if not os.path.exists(resolved):
        return "no such file or folder"
    return None


def check(root):
    """Returns the list of 'FILE:LINE: TARGET (why)' for every broken link under root."""
    broken = []
    for path in markdown_files(root):
        for number, target in links(path):
            why = problem(root, path, target)
            if why:
                broken.append(f"{os.path.relpath(path, root)}:{number}: {target} ({why})")
    return broken


def self_test():
    """Builds a tiny repository with good and bad links; returns 0 if each is judged right."""
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "docs", "images"))
        open(os.path.join(root, "docs", "images", "a.svg"), "w").close()
        open(os.path.join(root, "docs", "b.md"), "w").close()
        with open(os.path.join(root, "README.md"), "w") as f:
            f.write("![pic](docs/images/a.svg) [b](docs/b.md#part) [web](https://x.org/y)\n"
                    "[folder](docs/) [anchor](#top) [`code`](docs/b.md \"title\")\n"
                    "[gone](docs/missing.md) `[in code](nowhere.md)`\n"
                    "```\n[fenced](nowhere.md)\n```\n")
        with open(os.path.join(root, "docs", "c.md"), "w") as f:
            f.write("[up](../README.md) [escape](../../etc/passwd) ![img](images/none.png)\n")
        got = check(root)
    want = ["README.md:3: docs/missing.md (no such file or folder)",
            "docs/c.md:1: ../../etc/passwd (outside the repository)",
            "docs/c.md:1: images/none.png (no such file or folder)"]
    if got != want:
        print("self-test FAILED\n got:  %s\n want: %s" % (got, want))
        return 1
    print("self-test passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="repository root")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.root:
        parser.error("--root or --self-test is required")
    files = markdown_files(args.root)
    broken = check(args.root)
    for line in broken:
        print(line)
    print(f"{len(files)} files, {len(broken)} broken links")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
