"""The ``scan`` command's output: the aligned table, the summary line, the progress bar, the command.

The rows come from ``scan.scan`` (the folder walk and one lookup per file); this module only renders
them: a text table (file names made safe for a terminal, wide characters aligned), one JSON array with
``--json``, warnings on stderr, and on a terminal tqdm's progress bar on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from .conventions import FAMILY_NAMES, HOST_NAMES
from .metadata import DEFAULT_FILENAME, HostHashCache, ImageHistory, OverrideStore
from .metadata.recommendation import format_skip
from .scan import ReadOnlyOverrides, ScanOutcome
from .scan import scan as scan_folder


class Progress:
    """tqdm's bar on a terminal ("scanning: 12/340 |███      |, name.safetensors"); nothing otherwise."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.enabled = stream.isatty()
        self.bar: tqdm | None = None

    def update(self, index: int, total: int, what: str, name: str, force: bool = False) -> None:
        """Show file ``index`` of ``total``; tqdm redraws at most every 0.1 s unless ``force``."""
        if not self.enabled:
            return
        shown = encodable(display(name), self.stream)
        if self.bar is None:
            # A new pseudo-terminal reports 0 × 0 characters, where tqdm would draw nothing.
            size = shutil.get_terminal_size((80, 24))
            self.bar = tqdm(
                desc=what,
                postfix=shown,
                total=total,
                file=self.stream,
                leave=False,
                ncols=size.columns,
                nrows=size.lines,
                bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}|{postfix}",
            )
        self.bar.set_description_str(what, refresh=False)
        self.bar.set_postfix_str(shown, refresh=False)
        self.bar.update(index - self.bar.n)
        if force:
            self.bar.refresh()

    def clear(self) -> None:
        """Remove the bar from the terminal."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _size_text(size: int | None) -> str:
    if size is None:
        return "?"
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 1000 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


# ---- output ------------------------------------------------------------------------------------------------


def display(text: str) -> str:
    """``text`` safe for a terminal: undecodable bytes of file names as U+FFFD, control characters escaped."""
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(ch if unicodedata.category(ch) not in ("Cc", "Cf") else ascii(ch)[1:-1] for ch in text)


def encodable(text: str, stream: TextIO) -> str:
    """``text`` with what ``stream``'s encoding cannot write replaced (a cp1252 pipe on Windows)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return text.encode(encoding, "replace").decode(encoding)
    except LookupError:
        return text


def width(text: str) -> int:
    """Columns ``text`` takes on a terminal (wide East Asian characters take two)."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def _fit(text: str, columns: int) -> str:
    if width(text) <= columns:
        return text
    while width(text) > columns - 1:
        text = text[:-1]
    return text + "…"


def _family_text(row: dict[str, object]) -> str:
    family = row["family"]
    if isinstance(family, str):
        return FAMILY_NAMES.get(family, family)
    return "other" if row["family_reason"] else "?"


def format_table(rows: list[dict[str, object]]) -> Iterator[str]:
    """The text table: path, kind, family, skip, source, confidence, note."""
    header = ("PATH", "KIND", "FAMILY", "SKIP", "SOURCE", "CONF", "NOTE")
    table = [header]
    for row in rows:
        skip = row["skip"]
        confidence = row["confidence"]
        remarks = row["remarks"]
        table.append(
            (
                display(str(row["path"])),
                "LoRA" if row["kind"] == "lora" else "checkpoint",
                _family_text(row),
                format_skip(skip) if isinstance(skip, (int, float)) else "-",
                display(str(row["short_source"] or "-")),
                f"{confidence:.2f}" if isinstance(confidence, float) else "-",
                display("; ".join(remarks)) if isinstance(remarks, list) else "",
            )
        )
    widths = [max(width(line[column]) for line in table) for column in range(len(header) - 1)]
    for line in table:
        cells = [cell + " " * (widths[i] - width(cell)) for i, cell in enumerate(line[:-1])]
        yield "  ".join([*cells, line[-1]]).rstrip()


def summary(outcome: ScanOutcome, host: str) -> str:
    """E.g. "5 models (2 checkpoints, 3 LoRAs): 4 with a recommendation, 1 broken; skip in A1111 numbering"."""
    rows = outcome.rows
    loras = sum(1 for row in rows if row["kind"] == "lora")
    recommended = sum(1 for row in rows if row["skip"] is not None)
    broken = sum(1 for row in rows if row["broken"])
    hashed = [row for row in rows if row["sha256_source"] == "computed"]

    def plural(count: int, word: str, many: str = "") -> str:
        return f"{count} {word if count == 1 else many or word + 's'}"

    text = (
        f"{plural(len(rows), 'model')} ({plural(len(rows) - loras, 'checkpoint')}, {plural(loras, 'LoRA')}): "
        f"{recommended} with a recommendation, {broken} broken"
    )
    if outcome.skipped:
        text += f"; {outcome.skipped} other file{'s' if outcome.skipped != 1 else ''} skipped (not a checkpoint or LoRA)"
    if hashed:
        total = sum(row["size"] for row in hashed if isinstance(row["size"], int))
        text += f"; hashed {plural(len(hashed), 'file')} ({_size_text(total)})"
    return text + f"; skip in {HOST_NAMES[host]} numbering"


# ---- the command ---------------------------------------------------------------------------------------------


def _folder_error(path: str, what: str) -> str | None:
    if not os.path.exists(path):
        return f"error: {what} {path!r} does not exist"
    if not os.path.isdir(path):
        return f"error: {what} {path!r} is not a directory"
    return None


def run(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The ``scan`` subcommand (arguments: dir, json, hash, webui_dir, host)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    images = getattr(args, "images", None) or []
    folders = [(args.dir, "DIR"), (args.webui_dir, "--webui-dir"), *((path, "--images") for path in images)]
    for path, what in folders:
        problem = _folder_error(path, what) if path is not None else None
        if problem:
            print(problem, file=err)
            return 2
    index = getattr(args, "image_index", None)
    if index is not None and os.path.isdir(index):
        print(f"error: --image-index {index!r} is a directory; expected a file", file=err)
        return 2
    overrides: OverrideStore | None = None
    hash_cache: HostHashCache | None = None
    if args.webui_dir is not None:
        hash_cache = HostHashCache.for_data_dir(args.webui_dir)
        overrides = ReadOnlyOverrides(Path(args.webui_dir, DEFAULT_FILENAME))
    bar = Progress(err)
    history = ImageHistory(images, cache_path=index) if images else None

    def progress(index: int, total: int, path: Path, hashing: bool) -> None:
        if hashing:
            try:
                size = _size_text(path.stat().st_size)
            except OSError:
                size = "?"
            bar.update(index, total, "hashing", f"{path.name} ({size})", force=True)
        else:
            bar.update(index, total, "scanning", path.name)

    try:
        if history is not None:
            history.refresh()
        outcome = scan_folder(
            Path(args.dir),
            host=args.host,
            overrides=overrides,
            hash_cache=hash_cache,
            allow_hashing=args.hash,
            progress=progress,
            history=history,
        )
    except KeyboardInterrupt:
        bar.clear()
        print("interrupted", file=err)
        return 130
    bar.clear()
    try:
        if args.json:
            out.write(json.dumps(outcome.rows, indent=2) + "\n")
        else:
            for line in format_table(outcome.rows):
                out.write(encodable(line, out) + "\n")
            line = summary(outcome, args.host)
            if history is not None:
                line += f"; {len(history.images):,} of your images indexed ({history.read_count:,} read now)"
            out.write(line + "\n")
        out.flush()
    except BrokenPipeError:  # "scan DIR | head": the reader has gone (Python docs, signal module notes)
        if out is sys.stdout:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    warnings = list(outcome.warnings)
    if history is not None:
        shown = history.problems[:5]
        more = len(history.problems) - len(shown)
        warnings += [*shown, *([f"… and {more} more unreadable images"] if more > 0 else [])]
    for warning in warnings:
        print(encodable(f"warning: {display(warning)}", err), file=err)
    return 0
