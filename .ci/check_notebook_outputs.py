#!/usr/bin/env python3
"""Checks a notebook executed by .ci/notebooks-check.sh (nbconvert --execute).

Fails (exit 1) when a code cell
- has an error output, or wrote to stderr (evcxr reports a panic, or an error
  returned by `?`, on stderr while the cell still counts as run);
- is tagged `image` and showed no `image/png`;
- is not tagged `image`, is the chapter's own code (not a generated block of the book,
  `metadata.dip.block`) and showed an `image/png`: tag it (shows-image in the chapter);
- ends with `.show();` (or its block does) and showed nothing;
- was not run.
Prints, per cell, how long it ran (nbclient's timing) and what it showed.
"""
import json
import sys
from datetime import datetime


def when(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def main(path):
    nb = json.load(open(path))
    problems = []
    images = 0
    for index, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        name = f"{path}: cell {cell.get('id', index)}"
        source = "".join(cell["source"])
        meta = cell.get("metadata", {})
        tags = meta.get("tags", [])
        block = meta.get("dip", {}).get("block")
        shown = set()
        stderr = ""
        for out in cell.get("outputs", []):
            kind = out.get("output_type")
            if kind == "error":
                problems.append(f"{name}: error {out.get('ename')}: {out.get('evalue')}")
            elif kind == "stream" and out.get("name") == "stderr":
                stderr += "".join(out.get("text", ""))
            elif kind in ("execute_result", "display_data"):
                shown.update(out.get("data", {}).keys())
        if stderr:
            problems.append(f"{name}: wrote to stderr (a panic, or an error from `?`):\n{stderr.rstrip()}")
        timing = meta.get("execution", {})
        took = ""
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            secs = (when(timing["shell.execute_reply"]) - when(timing["iopub.execute_input"])).total_seconds()
            took = f"{secs:7.1f} s"
        if cell.get("execution_count") is None:
            problems.append(f"{name}: was not run")
        if "image" in tags:
            if "image/png" in shown:
                images += 1
            else:
                problems.append(f"{name}: tagged image, but showed no image/png (showed {sorted(shown)})")
        elif "image/png" in shown and block is None:
            problems.append(f"{name}: showed an image/png but is not tagged image (add shows-image to its code block)")
        # A cell in one block (`{ … }`) ends with the block's last line.
        body = source.rstrip().removesuffix("}").rstrip()
        last = body.splitlines()[-1] if body.strip() else ""
        if last.endswith(".show();") and not (shown - {"text/plain"}):
            problems.append(f"{name}: ends with .show(); but showed nothing")
        first = source.strip().splitlines()[0] if source.strip() else ""
        what = ", ".join(sorted(shown - {"text/plain"})) or "-"
        print(f"   {took:>9}  {cell.get('id', index):<24} {what:<40} {first[:60]}")
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    print(f"   {path}: {images} image cell(s) showed a PNG; {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(max(main(p) for p in sys.argv[1:]) if len(sys.argv) > 1 else 2)
