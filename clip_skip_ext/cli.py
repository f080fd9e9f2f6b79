"""Command-line tools that work without a WebUI.

    python -m clip_skip_ext schedule "2@40%, 1" --steps 20 [--json] [--svg FILE [--family sd1] [--host a1111]]
    python -m clip_skip_ext inspect MODEL "PROMPT" [--family sd1] [--host a1111] [--out FILE] [--json]
    python -m clip_skip_ext translate 2 --family sdxl --from comfyui --to a1111 [--json]
    python -m clip_skip_ext explain "PROMPT" [--family sd1] [--host a1111] [--json]
    python -m clip_skip_ext scan DIR [--json] [--hash] [--webui-dir DIR] [--host a1111]
                                     [--images OUTPUTS_DIR ...] [--image-index FILE]

Errors go to stderr with exit status 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from clip_skip_ext import __version__, conventions, policy, preview
from clip_skip_ext.atomic import write_atomic
from clip_skip_ext.schedule import ScheduleError, format_value, parse

MAX_STEPS = 10_000  # the WebUIs' slider stops at 150; nobody samples ten thousand steps


class CliError(ValueError):
    """A bad argument or file that the command names; exit status 2."""


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_STEPS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a step count (a whole number from 1 to {MAX_STEPS})"
        )
    return value


def _skip_value(text: str) -> float:
    """A value as the schedule grammar writes one (at most two decimals; ComfyUI's minus sign allowed):
    1.999 is refused, not rounded to 2."""
    digits = text.strip().removeprefix("-")
    whole, _, decimals = digits.partition(".")
    if not (whole.isascii() and decimals.isascii() and (whole + decimals).isdigit()) or len(decimals) > 2:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a clip skip value (a number with at most 2 decimals)"
        )
    return float(text)


def _write(path: str, text: str) -> None:
    try:
        write_atomic(path, text.encode("utf-8"))
    except OSError as error:
        raise CliError(f"cannot write {path!r}: {error.strerror or error}") from None


def _schedule(args: argparse.Namespace) -> int:
    schedule = parse(args.spec)
    values = schedule.values(args.steps)
    if args.svg:
        conventions.rule(args.host, args.family)  # a clear error for a host with no numbering here
        lane = preview.Lane("schedule", "cli", schedule, args.steps)
        _write(args.svg, preview.chart([lane], args.family, args.host))
    if args.json:
        print(json.dumps([int(v) if v == int(v) else v for v in values]))
    else:
        print(" ".join(format_value(v) for v in values))
    return 0


def _translate(args: argparse.Namespace) -> int:
    result = conventions.translate(args.value, args.family, args.source, args.target)
    if args.json:
        print(
            json.dumps(
                {
                    "value": args.value,
                    "family": args.family,
                    "from": args.source,
                    "to": args.target,
                    "result": result,
                }
            )
        )
        return 0
    if result is None:
        source = conventions.describe(args.value, args.family, args.source)
        print(f"no equivalent on {conventions.HOST_NAMES[args.target]}: {source}")
        return 1
    print(format_value(result))
    print(conventions.describe(result, args.family, args.target), file=sys.stderr)
    return 0


def _read_policy(path: str | None) -> policy.Policy:
    if path is None:
        return policy.DEFAULT_POLICY
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read(policy.MAX_TEXT + 1)
    except (OSError, UnicodeDecodeError) as error:
        raise policy.PolicyError(f"cannot read the policy file {path!r}: {error}") from None
    return policy.Policy.parse(text)


_SOURCES = {"policy": "the policy", "checkpoint": "the checkpoint default", "native": "the native layer"}


def _explain(args: argparse.Namespace) -> int:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    decision = policy.decide(
        prompt,
        args.family,
        args.host,
        _read_policy(args.policy),
        known_default=args.checkpoint_default,
        known_source=args.checkpoint_source,
    )
    if args.json:
        print(json.dumps(decision.to_dict()))
        return 0
    on = f"{conventions.FAMILY_NAMES[args.family]} on {conventions.HOST_NAMES[args.host]}"
    lines = [
        f"style:  {decision.style} (score {decision.score:.2f})",
        f"skip:   {decision.skip}  ({on}; from {_SOURCES[decision.source]})",
        "why:",
        *(f"  - {reason}" for reason in decision.reasons),
    ]
    if decision.evidence:
        lines += ["evidence:", *(f"  - {reason}" for reason in decision.evidence)]
    print("\n".join(lines))
    return 0


def _inspect(args: argparse.Namespace) -> int:
    # torch and transformers: only this command needs them
    from clip_skip_ext import clip_tokenizer, directives, heatmap, inspector, text_weights
    from clip_skip_ext.metadata.safetensors_header import MetadataError, ReadCounter

    suffix = os.path.splitext(args.out)[1].lower() if args.out else ""
    if args.out and suffix not in (".png", ".svg"):
        raise CliError(f"--out {args.out!r}: the picture is written as .png or .svg")
    try:
        tokenizer = clip_tokenizer.find(args.tokenizer, args.webui_dir)
    except clip_tokenizer.TokenizerMissing as error:
        raise CliError(str(error)) from None
    counter = ReadCounter()
    try:
        family, encoders = text_weights.text_encoders(args.model, args.family, counter)
    except MetadataError as error:
        raise CliError(str(error)) from None
    conventions.rule(args.host, family)
    text = directives.strip(sys.stdin.read() if args.prompt == "-" else args.prompt)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    chunks, lengths = inspector.chunk_ids(
        ids, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.eos_token_id
    )
    words = [token.removesuffix("</w>") for token in tokenizer.convert_ids_to_tokens(ids)]
    labels = []
    for i, length in enumerate(lengths):
        start = i * inspector.CHUNK
        labels += [*words[start : start + length], "<end>"]
    found = [
        inspector.inspect(model, chunks, lengths, labels, family, args.host, index)[0]
        for index, (_, model) in enumerate(encoders)
    ]
    if args.out:
        picture = heatmap.to_png(found) if suffix == ".png" else heatmap.to_svg(found).encode("utf-8")
        try:
            write_atomic(args.out, picture)
        except OSError as error:
            raise CliError(f"cannot write {args.out!r}: {error.strerror or error}") from None
    read = f"read {counter.bytes / 1e6:.1f} MB of {os.path.getsize(args.model) / 1e6:.1f} MB in {counter.reads} reads"
    if args.json:
        print(
            json.dumps(
                {
                    "model": args.model,
                    "family": family,
                    "host": args.host,
                    "bytes_read": counter.bytes,
                    "encoders": [item.to_dict() for item in found],
                }
            )
        )
        return 0
    reason = conventions.no_effect(args.host, family)
    for item in found:
        on = f"{conventions.FAMILY_NAMES[family]} on {conventions.HOST_NAMES[args.host]}"
        print(f"{item.encoder} ({on}), {len(item.tokens)} tokens; mean similarity per clip skip:")
        print("  " + "  ".join(f"{c.label}: {m:.3f}" for c, m in zip(item.columns, item.means)))
    print(found[0].measure)
    if reason:
        print(f"note: clip skip has no effect here: {reason}")
    print(read, file=sys.stderr)
    return 0


def _scan(args: argparse.Namespace) -> int:
    from clip_skip_ext import scan_report  # only this command needs the metadata database

    return scan_report.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m clip_skip_ext", description="Clip Skip Control tools.")
    parser.add_argument("--version", action="version", version=f"Clip Skip Control {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    schedule = commands.add_parser("schedule", help="print the clip skip of every sampling step")
    schedule.add_argument("spec", help='a value or schedule, e.g. "2", "1.5", "2@40%%, 1" or "9,7,4,3,2"')
    schedule.add_argument("--steps", type=_positive, required=True, help="number of sampling steps")
    schedule.add_argument("--json", action="store_true", help="print a JSON list")
    schedule.add_argument("--svg", metavar="FILE", help="also draw the schedule as an SVG step chart")
    schedule.add_argument(
        "--family", choices=conventions.FAMILIES, default="sd1", help="for the chart's legend (sd1)"
    )
    schedule.add_argument(
        "--host", choices=conventions.HOSTS, default="a1111", help="the numbering of SPEC (a1111)"
    )
    schedule.set_defaults(run=_schedule)

    translate = commands.add_parser("translate", help="the same layers in another host's numbering")
    translate.add_argument("value", type=_skip_value, help="the clip skip value in the source numbering")
    translate.add_argument("--family", choices=conventions.FAMILIES, required=True)
    translate.add_argument("--from", dest="source", choices=conventions.HOSTS, required=True)
    translate.add_argument("--to", dest="target", choices=conventions.HOSTS, required=True)
    translate.add_argument("--json", action="store_true", help="print a JSON object")
    translate.set_defaults(run=_translate)

    explain = commands.add_parser("explain", help="the skip Auto mode would choose for a prompt, and why")
    explain.add_argument("prompt", help='the prompt, quoted; "-" reads it from standard input')
    explain.add_argument("--family", choices=conventions.FAMILIES, default="sd1", help="model family (sd1)")
    explain.add_argument(
        "--host", choices=conventions.HOSTS, default="a1111", help="the numbering of the answer (a1111)"
    )
    explain.add_argument("--policy", metavar="FILE", help="a policy text file (default: the built-in policy)")
    explain.add_argument(
        "--checkpoint-default",
        type=float,
        metavar="VALUE",
        help="the checkpoint's known default, in the host's numbering",
    )
    explain.add_argument("--checkpoint-source", metavar="TEXT", help="where that default comes from")
    explain.add_argument("--json", action="store_true", help="print a JSON object")
    explain.set_defaults(run=_explain)

    inspect = commands.add_parser(
        "inspect",
        help="how far each clip skip layer is from the default, per token, from a checkpoint's text encoder",
        description="Encode PROMPT with the checkpoint's own text encoder(s) at every clip skip value of the "
        "host and compare each token with the default layer (cosine similarity). Reads the safetensors header "
        "and the text-encoder tensors only, never the UNet.",
    )
    inspect.add_argument("model", metavar="MODEL", help="a .safetensors checkpoint (SD1, SD2, SDXL)")
    inspect.add_argument("prompt", help='the prompt, quoted; "-" reads it from standard input')
    inspect.add_argument(
        "--family", choices=tuple(("sd1", "sd2", "sdxl", "sdxl-refiner")), help="(default: from the file)"
    )
    inspect.add_argument(
        "--host", choices=conventions.HOSTS, default="a1111", help="the numbering of the columns (a1111)"
    )
    inspect.add_argument("--out", metavar="FILE", help="write the heatmap as FILE.png or FILE.svg")
    inspect.add_argument("--json", action="store_true", help="print the table as one JSON object")
    inspect.add_argument(
        "--tokenizer", metavar="DIR", help="a CLIP tokenizer folder (vocab.json, merges.txt)"
    )
    inspect.add_argument("--webui-dir", metavar="DIR", help="a Forge install whose tokenizer copy to use")
    inspect.set_defaults(run=_inspect)

    scanner = commands.add_parser(
        "scan",
        help="every checkpoint and LoRA under a folder, with its recommended clip skip",
        description="List every checkpoint and LoRA under DIR with its recommended clip skip, where the "
        "value comes from and how sure it is. Reads file headers (and a 64 KiB window of each checkpoint), "
        "never whole files unless --hash is given.",
    )
    scanner.add_argument("dir", metavar="DIR", help="the folder to scan, e.g. a WebUI's models folder")
    scanner.add_argument("--json", action="store_true", help="print one JSON array, one object per model")
    scanner.add_argument(
        "--hash", action="store_true", help="hash files whose sha256 is not known (reads whole files: slow)"
    )
    scanner.add_argument(
        "--webui-dir",
        metavar="DIR",
        help="the WebUI's data folder: use its hash cache and Clip Skip Control's user overrides",
    )
    scanner.add_argument(
        "--host", choices=conventions.HOSTS, default="a1111", help="the numbering of the printed skip (a1111)"
    )
    scanner.add_argument(
        "--images",
        metavar="DIR",
        action="append",
        help="a folder of your own PNGs (e.g. the WebUI's outputs): count the clip skip you used with "
        "each checkpoint (repeatable; reads only their text chunks)",
    )
    scanner.add_argument(
        "--image-index",
        metavar="FILE",
        help="keep the index of --images in FILE, so the next scan reads only new or changed images",
    )
    scanner.set_defaults(run=_scan)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ScheduleError, conventions.ConventionError, policy.PolicyError, CliError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
