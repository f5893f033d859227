"""Chinese figures render with the CJK font the set-up installs: no glyph falls back to a box."""

import warnings

import pytest

from mnistcnn import fonts

ZH_TEXT = "训练与验证的精度：第 5 轮，损失 −0.25（测试集）"


def _render(text: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set_title(text)
        ax.set_xlabel(text)
        ax.plot([1, 2], [-1, 2], label=text)
        ax.legend()
        fig.canvas.draw()
        plt.close(fig)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_the_cjk_font_is_installed_and_covers_the_text():
    from matplotlib.ft2font import FT2Font

    font = FT2Font(str(fonts.cjk_font_path()))
    assert font.family_name == fonts.CJK_FAMILY
    assert all(font.get_char_index(ord(ch)) for ch in ZH_TEXT if ord(ch) > 0x2E80)


def test_a_chinese_figure_renders_without_a_missing_glyph():
    import matplotlib as mpl

    before = mpl.rcParams["font.family"]
    try:
        mpl.rcParams["font.family"] = ["DejaVu Sans"]
        assert _render(ZH_TEXT), "without the CJK font the test would see missing glyphs"
        fonts.use_cjk_font()
        assert _render(ZH_TEXT) == []
        fonts.use_cjk_font()  # idempotent
        assert mpl.rcParams["font.family"] == [fonts.LATIN_FAMILY, fonts.CJK_FAMILY]
    finally:
        mpl.rcParams["font.family"] = before


def test_a_missing_font_says_how_to_install_it(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="make setup"):
        fonts.cjk_font_path()
