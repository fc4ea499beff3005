#!/usr/bin/python3
"""docs/cli.md documents every command and option that `--help` shows.

Usage: test_cli_doc.py <path to cartpk>
For each command (and design's subcommands), every `--option` in its --help must appear in that command's section
of docs/cli.md (regenerate it with scripts/make_cli_doc.py). Prints "N passed, M failed".
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_checks  # noqa: E402


def sections(doc):
    """'cartpk vpop' -> the text of its section."""
    out, current = {}, None
    for line in doc.splitlines():
        m = re.match(r"^## `(cartpk[^`]*)`", line)
        if m:
            current = m.group(1)
            out[current] = ""
        elif current:
            out[current] += line + "\n"
    return out


def commands(exe, words):
    text = subprocess.run([exe] + words + ["--help"], capture_output=True, text=True).stdout
    found = [words]
    if "Subcommands:" in text:
        for line in text.split("Subcommands:")[1].splitlines():
            m = re.match(r"^  (\S+)\s{2,}", line)
            if m:
                found += commands(exe, words + [m.group(1)])
    return found


def main():
    exe = cli_checks.binary_argument(__file__)
    if exe is None:
        return 2
    doc = sections(open(os.path.join(cli_checks.SOURCE_ROOT, "docs", "cli.md")).read())
    passed = failed = 0
    for words in commands(exe, [])[1:]:
        name = "cartpk " + " ".join(words)
        text = subprocess.run([exe] + words + ["--help"], capture_output=True, text=True).stdout
        options = sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", text.split("Options:")[-1].split("Subcommands:")[0])))
        section = doc.get(name)
        if section is None:
            failed += 1
            print(f"FAIL {name}: no section in docs/cli.md (run scripts/make_cli_doc.py)")
            continue
        missing = [o for o in options if not re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", section)]
        if missing:
            failed += 1
            print(f"FAIL {name}: docs/cli.md lacks {', '.join(missing)} (run scripts/make_cli_doc.py)")
        else:
            passed += 1
            print(f"ok   {name}: {len(options)} options documented")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
