"""A seeded mutator of multi-label files (no tests here): seeds cut from the dev files in
four formats, and malformed variants of them for the fuzzed-files test.

Each mutation is one of the ways real files go wrong: cut short mid-line, a number that is
not one, a broken quote or escape, a row with too few or too many values, binary junk, an
enormous line, a header line lost or repeated, an empty file, or a few of these at once.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

MUTATIONS = ("truncate", "bad_number", "bad_escape", "drop_value", "extra_value",
             "binary_junk", "huge_line", "drop_line", "duplicate_line", "empty", "nul_bytes",
             "bad_utf8", "several")


def seeds(data: Path, n_rows: int = 30) -> dict:
    """``{name: (text, format, open_stream options)}``: small real files in each format."""
    out = {}
    emotions = (data / "emotions" / "emotions.arff").read_text().splitlines()
    at = next(i for i, ln in enumerate(emotions) if ln.strip().lower() == "@data")
    out["emotions.arff"] = ("\n".join(emotions[:at + 1 + n_rows]) + "\n", "arff",
                            {"labels": -6})
    medical = (data / "medical" / "medical.arff").read_text().splitlines()
    at = next(i for i, ln in enumerate(medical) if ln.strip().lower() == "@data")
    out["medical.arff"] = ("\n".join(medical[:at + 1 + n_rows]) + "\n", "arff",
                           {"label_file": str(data / "medical" / "medical.xml")})
    from stream.readers import open_stream

    records = []
    for i, (x, y) in enumerate(open_stream(data / "yeast" / "yeast.arff", labels=-14)):
        if i >= n_rows:
            break
        records.append((x, y))
    names = list(records[0][0])
    labels = list(records[0][1])
    csv_lines = [",".join(names + labels)]
    svm_lines, jsonl_lines = [], []
    for x, y in records:
        csv_lines.append(",".join([repr(x.get(n, 0.0)) for n in names]
                                  + ["1" if y[lb] else "0" for lb in labels]))
        on = [str(labels.index(lb)) for lb in labels if y[lb]]
        svm_lines.append(",".join(on) + " " + " ".join(
            f"{j + 1}:{x[n]!r}" for j, n in enumerate(names) if x.get(n)))
        jsonl_lines.append(json.dumps({"features": x, "labels": [lb for lb in labels if y[lb]]}))
    out["yeast.csv"] = ("\n".join(csv_lines) + "\n", "csv", {"labels": -14})
    out["yeast.svm"] = ("\n".join(svm_lines) + "\n", "libsvm", {})
    out["yeast.jsonl"] = ("\n".join(jsonl_lines) + "\n", "jsonl", {})
    return out


def mutate(text: str, rng: random.Random, kind: str | None = None) -> tuple[bytes, str]:
    """One malformed variant of ``text`` and the mutation's name."""
    kind = kind or rng.choice(MUTATIONS)
    if kind == "several":
        data = text
        for _ in range(rng.randint(2, 4)):
            data = mutate(data, rng, rng.choice(MUTATIONS[:-2]))[0].decode("utf-8",
                                                                          "replace")
        return data.encode("utf-8", "replace"), kind
    if not text:
        return b"", kind
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    line = lines[i]
    if kind == "truncate":
        cut = rng.randrange(max(len(text), 1))
        return text[:cut].encode(), kind
    if kind == "bad_number":
        tokens = line.replace(",", " , ").replace(":", " : ").split(" ")
        nums = [j for j, t in enumerate(tokens) if _is_number(t)]
        if nums:
            tokens[rng.choice(nums)] = rng.choice(["1.2.3", "--4", "0x1g", "1e", "nan", "inf",
                                                   "1e999", "", "NaN", "+", "١٢", "1_0"])
        lines[i] = " ".join(tokens).replace(" , ", ",").replace(" : ", ":")
    elif kind == "bad_escape":
        pos = rng.randrange(len(line) + 1)
        lines[i] = line[:pos] + rng.choice(['"', "'", "\\", '\\u12', '\\x', '"\\"', "{", "}",
                                            "[", "%"]) + line[pos:]
    elif kind == "drop_value":
        parts = line.split(",")
        if len(parts) > 1:
            del parts[rng.randrange(len(parts))]
        lines[i] = ",".join(parts)
    elif kind == "extra_value":
        lines[i] = line + rng.choice([",1", ",0.5", " 3:4", ",,", ",\"x\"", " 99999999:1"])
    elif kind == "binary_junk":
        junk = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
        pos = rng.randrange(len(text) + 1)
        return text[:pos].encode() + junk + text[pos:].encode(), kind
    elif kind == "huge_line":
        lines.insert(i, ",".join(["1"] * rng.randint(200_000, 400_000)))
    elif kind == "drop_line":
        del lines[i]
    elif kind == "duplicate_line":
        lines.insert(rng.randrange(len(lines) + 1), line)
    elif kind == "empty":
        return b"", kind
    elif kind == "nul_bytes":
        pos = rng.randrange(len(line) + 1)
        lines[i] = line[:pos] + "\0" * rng.randint(1, 8) + line[pos:]
    elif kind == "bad_utf8":
        pos = rng.randrange(len(text) + 1)
        return text[:pos].encode() + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80",
                                                 b"\xe2\x82"]) + text[pos:].encode(), kind
    return "\n".join(lines).encode(), kind


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def corpus(data: Path, directory: Path, n: int = 1040, seed: int = 20261206) -> list:
    """Write ``n`` malformed files into ``directory``; ``[(path, format, options, kind)]``."""
    rng = random.Random(seed)
    base = seeds(data)
    names = sorted(base)
    out = []
    for k in range(n):
        name = names[k % len(names)]
        text, fmt, options = base[name]
        data_bytes, kind = mutate(text, rng)
        stem, _, suffix = name.partition(".")
        path = directory / f"{k:04d}-{kind}-{stem}.{suffix}"
        path.write_bytes(data_bytes)
        out.append((path, fmt, options, kind))
    return out
