"""The review's CJK font: found on this machine, subset to the characters a report uses and
embedded in it as a WOFF @font-face, so the file shows every glyph on a machine without
Chinese fonts and fetches nothing.

The font is Noto Sans CJK SC (SIL Open Font License 1.1, which allows embedding subsets in
documents), from Debian's `fonts-noto-cjk` (`apt-get install -y fonts-noto-cjk`), found with
fontconfig's `fc-match` or at the usual paths; `WAREHOUSE_REPORT_FONT` may name another
OpenType/TrueType file (or collection) with Simplified Chinese glyphs, and
`WAREHOUSE_REPORT_FONT_BOLD` its bold face. vl-convert, which lays out and draws the charts,
reads the system's fonts (and the folder of a font named by the variable), so the charts'
text is measured with the same font the page embeds.

Without any such font the report is still written: its text then falls back on the reader's
own fonts (the CSS lists the common Chinese ones) and the renderer logs a warning.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from orchestration.report.cache import cache_key, cached_bytes

FONT_ENV = "WAREHOUSE_REPORT_FONT"
BOLD_FONT_ENV = "WAREHOUSE_REPORT_FONT_BOLD"
FAMILY = "Noto Sans CJK SC"
# The reader's own fonts, after the embedded one (a file rendered without a CJK font).
FALLBACK_FAMILIES = (
    "Noto Sans CJK SC",
    "Source Han Sans SC",
    "PingFang SC",
    "Microsoft YaHei",
    "WenQuanYi Micro Hei",
    "sans-serif",
)
_KNOWN_PATHS = (  # Debian/Ubuntu fonts-noto-cjk; Fedora; Arch
    "/usr/share/fonts/opentype/noto/NotoSansCJK-{style}.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-{style}.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-{style}.ttc",
)
INSTALL_HINT = "apt-get install -y fonts-noto-cjk"


@dataclass(frozen=True)
class FontFace:
    path: Path
    index: int  # face number inside a .ttc collection (0 for a single font)
    family: str


@dataclass(frozen=True)
class ReviewFont:
    """The regular face (required) and the bold face (optional: browsers embolden)."""

    regular: FontFace
    bold: FontFace | None

    @property
    def family(self) -> str:
        return self.regular.family

    @property
    def directories(self) -> set[Path]:
        return {face.path.parent for face in (self.regular, self.bold) if face}


@cache
def find_font() -> ReviewFont | None:
    """The CJK font to embed: the environment's choice, else Noto Sans CJK SC."""
    named = os.environ.get(FONT_ENV, "").strip()
    if named:
        regular = _face_in_file(Path(named), prefer=FAMILY)
        bold_named = os.environ.get(BOLD_FONT_ENV, "").strip()
        bold = _face_in_file(Path(bold_named), prefer=regular.family) if bold_named else None
        return ReviewFont(regular, bold)
    regular = _fc_match("Regular") or _known_path("Regular")
    if regular is None:
        return None
    return ReviewFont(regular, _fc_match("Bold") or _known_path("Bold"))


def font_face_css(font: ReviewFont | None, text: str, cache_dir: Path | None = None) -> str:
    """@font-face rules with the font subset to `text`'s characters, as data: URLs.

    Subsetting parses the whole CJK font (~2 s a face); with `cache_dir` a subset is kept
    there, keyed by face and characters, and reused while the report's text uses the same
    characters (a daily refresh mostly does)."""
    if font is None:
        return ""
    rules = []
    for face, weight in ((font.regular, 400), (font.bold, 700)):
        if face is None:
            continue
        woff = cached_subset_woff(face, frozenset(text), cache_dir)
        data = base64.b64encode(woff).decode("ascii")
        rules.append(
            f"@font-face {{ font-family: '{font.family}'; font-weight: {weight}; "
            f"font-style: normal; src: url(data:font/woff;base64,{data}) format('woff'); }}"
        )
    return "\n".join(rules)


def css_font_stack(font: ReviewFont | None) -> str:
    families = [font.family] if font else []
    families += [f for f in FALLBACK_FAMILIES if f not in families]
    return ", ".join(f if f == "sans-serif" else f"'{f}'" for f in families)


CACHE_KEEP = 12  # subsets kept in the cache folder (the newest)
SUBSET_FORMAT = "woff-v1"  # part of the cache key: change it when subset_woff's output changes


def cached_subset_woff(face: FontFace, characters: frozenset[str], cache_dir: Path | None) -> bytes:
    stat = face.path.stat()
    key = cache_key(
        [str(face.path), str(face.index), str(stat.st_size), str(stat.st_mtime_ns),
         SUBSET_FORMAT, _fonttools_version(), "".join(sorted(characters))]
    )  # fmt: skip
    return cached_bytes(cache_dir, key, ".woff", CACHE_KEEP, lambda: subset_woff(face, characters))


def _fonttools_version() -> str:
    import fontTools

    return fontTools.version


def subset_woff(face: FontFace, characters: frozenset[str]) -> bytes:
    """The face reduced to `characters` (plus what shaping needs), as WOFF (zlib)."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    logging.getLogger("fontTools").setLevel(logging.WARNING)  # it logs every glyph at INFO
    options = subset.Options()
    options.hinting = False  # screens and PDF printing do without; halves the size
    options.desubroutinize = True  # CFF compresses better flat
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]  # keep the copyright and licence names
    font = TTFont(str(face.path), fontNumber=face.index, lazy=True)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(characters)))
    subsetter.subset(font)
    font.flavor = "woff"
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _fc_match(style: str) -> FontFace | None:
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        return None
    try:
        out = subprocess.run(
            [fc_match, "-f", "%{file}\t%{index}\t%{family}", f"{FAMILY}:style={style}"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.split("\t")
    # fc-match always answers; a family without FAMILY means it fell back on another font
    if len(parts) != 3 or FAMILY not in parts[2].split(","):
        return None
    return FontFace(Path(parts[0]), int(parts[1] or 0), FAMILY)


def _known_path(style: str) -> FontFace | None:
    for pattern in _KNOWN_PATHS:
        path = Path(pattern.format(style=style))
        if path.exists():
            return _face_in_file(path, prefer=FAMILY)
    return None


def _face_in_file(path: Path, prefer: str) -> FontFace:
    """The face of `prefer` in a collection (else its first face), with its family name."""
    from fontTools.ttLib import TTCollection, TTFont

    if not path.exists():
        raise FileNotFoundError(f"{FONT_ENV}/{BOLD_FONT_ENV}: no font file at {path}")
    if path.suffix.lower() in (".ttc", ".otc"):
        families = [font["name"].getBestFamilyName() for font in TTCollection(str(path)).fonts]
        index = families.index(prefer) if prefer in families else 0
        return FontFace(path, index, families[index])
    return FontFace(path, 0, TTFont(str(path), lazy=True)["name"].getBestFamilyName())
