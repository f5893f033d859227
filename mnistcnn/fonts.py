"""The font of the course's figures: DejaVu Sans (matplotlib's own) with Noto Sans CJK SC behind it,
so that Chinese text in a figure renders instead of showing missing-glyph boxes.

The CJK font comes from the package registry on every platform (the ``mplfonts`` package, pinned in
pyproject.toml, holds the file; nothing of that package is imported). Matplotlib falls back glyph by
glyph along the families of ``font.family`` (not along the generic ``sans-serif`` list): Latin
letters and digits stay in DejaVu Sans, Chinese characters come from Noto Sans CJK SC.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

CJK_FAMILY = "Noto Sans CJK SC"
CJK_FILE = "NotoSansCJKsc-Regular.otf"
LATIN_FAMILY = "DejaVu Sans"


def cjk_font_path() -> Path:
    """The Noto Sans CJK SC file installed with the course; FileNotFoundError saying how to get it."""
    spec = importlib.util.find_spec("mplfonts")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "fonts" / CJK_FILE
        if path.exists():
            return path
    from mnistcnn.i18n import _

    raise FileNotFoundError(_("{file} is not installed: the course's set-up installs it "
                              "(`make setup`, or `pip install mplfonts==0.0.11`)").format(file=CJK_FILE))


def use_cjk_font() -> None:
    """Register the CJK font with matplotlib and put it behind DejaVu Sans (idempotent)."""
    import matplotlib as mpl
    from matplotlib import font_manager

    if CJK_FAMILY not in {f.name for f in font_manager.fontManager.ttflist}:
        font_manager.fontManager.addfont(str(cjk_font_path()))
    mpl.rcParams["font.family"] = [LATIN_FAMILY, CJK_FAMILY]
