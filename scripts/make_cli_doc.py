#!/usr/bin/python3
"""Writes docs/cli.md from the program's own --help texts: one section per command, a table of its options.

Usage: scripts/make_cli_doc.py build/cartpk [docs/cli.md]
Run it after adding or changing an option; tests/python/test_cli_doc.py fails when --help shows an option that
docs/cli.md lacks.
"""
import re
import subprocess
import sys

INTRO = """# Command-line reference

Every `cartpk` command and option, as `cartpk COMMAND --help` prints them (this page is generated from those
texts by `scripts/make_cli_doc.py`; `tests/python/test_cli_doc.py` fails when an option is missing here).
The guides explain what the commands do: `docs/vpop.md` (virtual populations), `docs/scaling.md` (threads and
MPI), `docs/fitting.md`, `docs/priors.md`, `docs/analysis-file.md` (`--config`), `docs/dataset-format.md`,
`docs/designs.md` (designs and virtual trials), `docs/models.md`, `docs/solver.md`, `docs/hdf5-layout.md`.

Exit codes: 0 success; 2 bad input or an unwritable output (the message names the file, line and field, or the
option and value, and what was expected; nothing is written); 3 a solve (or some subjects' fits, or some
patients' simulations) failed; 130 interrupted (what was complete is written); 1 an internal error.
"""


def help_text(exe, words):
    return subprocess.run([exe] + words + ["--help"], capture_output=True, text=True, check=True).stdout


def parse(text):
    """(usage line, description, [(option, meaning)], [subcommands])."""
    lines = text.splitlines()
    description = lines[0].strip() if lines else ""
    usage = next((l.strip() for l in lines if l.startswith("Usage:")), "")
    options, subcommands, section = [], [], None
    for line in lines:
        if line.startswith("Options:") or line.startswith("Positionals:"):
            section = "options"
            continue
        if line.startswith("Subcommands:"):
            section = "subcommands"
            continue
        m = re.match(r"^  (\S.*?)\s{2,}(\S.*)$", line)
        alone = re.match(r"^  (-\S.*?)\s*$", line)  # a long option: its meaning on the next line
        if m and section == "options":
            options.append((m.group(1).strip(), m.group(2).strip()))
        elif alone and section == "options":
            options.append((alone.group(1).strip(), ""))
        elif m and section == "subcommands":
            subcommands.append(m.group(1).strip())
        elif line.startswith("    ") and options and section == "options":
            options[-1] = (options[-1][0], (options[-1][1] + " " + line.strip()).strip())
    return usage, description, options, subcommands


def section(exe, words, out):
    usage, description, options, subcommands = parse(help_text(exe, words))
    out.append(f"\n## `cartpk {' '.join(words)}`\n\n{description}\n\n`{usage.replace('Usage: ', '')}`\n")
    if options:
        out.append("\n| option | meaning |\n|---|---|")
        for option, meaning in options:
            out.append(f"| `{option}` | {meaning.replace('|', '/')} |")
    for sub in subcommands:
        section(exe, words + [sub], out)


def main():
    exe = sys.argv[1]
    path = sys.argv[2] if len(sys.argv) > 2 else "docs/cli.md"
    _, _, _, commands = parse(help_text(exe, []))
    out = [INTRO]
    for command in commands:
        section(exe, [command], out)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
