"""Counting a text file's records without its parser: physical lines, less the blank ones.

A line ends at LF (the last line may lack it); a blank line is empty or a lone CR (CRLF files).
Blank lines are not records in any feed. The count is made on the bytes (or the decoded text),
with no CSV or JSON parsing, so that a parser that joins lines (an unbalanced quote) or drops
some shows as a difference (core.record_count_check).
"""

from __future__ import annotations

import numpy as np

LF, CR = 10, 13


def _as_bytes(text: bytes | str) -> bytes:
    # only the rare text with blank lines gets here; LF and CR are single bytes in UTF-8
    return text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")


def _may_hold_blank_lines(text: bytes | str) -> bool:
    """False when the text has no blank line for sure (four substring searches, in C)."""
    lf, cr = ("\n", "\r") if isinstance(text, str) else (b"\n", b"\r")
    return (
        text.startswith((lf, cr + lf))
        or lf + lf in text
        or lf + cr + lf in text
        or text.endswith(lf + cr)
        or text == cr
    )


def _blank_mask(data: bytes) -> np.ndarray:
    """Per physical line, whether it is blank (numpy, vectorised over the line ends)."""
    codes = np.frombuffer(data, dtype=np.uint8)
    line_ends = np.flatnonzero(codes == LF)
    starts = np.concatenate(([0], line_ends + 1))
    stops = np.concatenate((line_ends, [len(codes)]))
    if data.endswith(b"\n"):  # no line after the final LF
        starts, stops = starts[:-1], stops[:-1]
    lengths = stops - starts
    first_byte = codes[np.minimum(starts, len(codes) - 1)]
    return (lengths == 0) | ((lengths == 1) & (first_byte == CR))


def line_count(text: bytes | str) -> int:
    """Physical lines of a text: its LFs, plus a last line without one."""
    if not text:
        return 0
    lf = "\n" if isinstance(text, str) else b"\n"
    return text.count(lf) + (0 if text.endswith(lf) else 1)


def blank_line_numbers(text: bytes | str) -> np.ndarray:
    """1-based numbers of the blank lines of a text (empty when it has none)."""
    if not text or not _may_hold_blank_lines(text):
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(_blank_mask(_as_bytes(text))).astype(np.int64) + 1


def join_lines(texts: list[bytes]) -> tuple[bytes, np.ndarray]:
    """The texts joined into one buffer, each ending with LF (a last line without one gets
    it: the same line), and the offsets of each text in it (len(texts) + 1 of them)."""
    terminated = [text if not text or text.endswith(b"\n") else text + b"\n" for text in texts]
    offsets = np.zeros(len(terminated) + 1, dtype=np.int64)
    np.cumsum([len(text) for text in terminated], out=offsets[1:])
    return b"".join(terminated), offsets


def record_counts(joined: bytes, offsets: np.ndarray) -> np.ndarray:
    """Records (non-blank lines) of each text of `join_lines`, counted in one vectorised pass
    over the joined bytes: every line ends with an LF, a blank one right after the previous."""
    if not joined:
        return np.zeros(len(offsets) - 1, dtype=np.int64)
    codes = np.frombuffer(joined, dtype=np.uint8)
    ends = np.flatnonzero(codes == LF)
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    blank = (lengths == 0) | ((lengths == 1) & (codes[np.minimum(starts, len(codes) - 1)] == CR))
    text_of_line = np.searchsorted(offsets, ends, side="right") - 1
    return np.bincount(text_of_line[~blank], minlength=len(offsets) - 1)
