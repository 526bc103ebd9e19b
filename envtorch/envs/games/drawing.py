"""Renders of a match as one seat sees it: a text table (`ansi`) and a picture (`rgb_array`).

Chess, tic-tac-toe and connect four are drawn as boards; other games as their text table. Both
show what the viewing seat may see, nothing more.
"""

from __future__ import annotations

import textwrap
from typing import Any

from envtorch.core.extras import import_optional
from envtorch.envs.games.match import Match

SQUARE = 48
CELL = 64
LIGHT, DARK = (240, 217, 181), (181, 136, 99)
INK, PAPER = (20, 20, 20), (250, 250, 250)
CROSS, NOUGHT = (200, 40, 40), (40, 90, 200)
BOARD_BLUE, RED_DISC, YELLOW_DISC = (30, 80, 190), (215, 40, 40), (245, 205, 40)
PICTURE_COLUMNS = 80
"""Characters per line of a game drawn as its text table; longer lines wrap."""
PICTURE_HISTORY = 12
"""Moves of the history a game drawn as its text table shows: the latest ones."""


def ansi(match: Match) -> str:
    """The game as the viewing seat sees it: a headline, the board or its view, the history and
    the legal moves."""
    return "\n".join(_table(match, recent=None)) + "\n"


def image(match: Match) -> Any:
    """The game as the viewing seat sees it, as an RGB `numpy` array (height, width, 3)."""
    numpy = import_optional("numpy", extra="games", needed_by="rgb_array renders")
    if match.short_name == "chess":
        picture = _chess_picture(str(match.state))
    elif match.short_name == "tic_tac_toe":
        picture = _noughts_and_crosses_picture(_rows(match))
    elif match.short_name == "connect_four":
        picture = _connect_four_picture(_rows(match))
    else:
        picture = _text_picture(_wrapped(_table(match, recent=PICTURE_HISTORY)))
    return numpy.asarray(picture.convert("RGB"))


def _table(match: Match, recent: int | None) -> list[str]:
    """The lines of the game's text table, with the whole history or its `recent` latest moves."""
    lines = [_headline(match), *_board_text(match)]
    history = match.history(match.viewer)
    if recent is not None and len(history) > recent:
        lines.append(f"history (last {recent} of {len(history)}): {', '.join(history[-recent:])}")
    elif history:
        lines.append(f"history: {', '.join(history)}")
    if not match.over:
        lines.append(f"legal moves: {', '.join(match.legal_moves())}")
    return lines


def _wrapped(lines: list[str]) -> str:
    """`lines` as one text, each line longer than `PICTURE_COLUMNS` wrapped."""
    return "\n".join(
        wrapped
        for line in lines
        for wrapped in (
            textwrap.wrap(line, PICTURE_COLUMNS) if len(line) > PICTURE_COLUMNS else [line]
        )
    )


def _headline(match: Match) -> str:
    if match.over:
        returns = ", ".join(f"{value:g}" for value in match.state.returns())
        return f"{match.name}: game over, returns {returns} (player {match.viewer}'s view)"
    return f"{match.name}: player {match.viewer} to act"


def _board_text(match: Match) -> list[str]:
    if match.short_name == "chess":
        return _chess_text(str(match.state))
    view = match.observe(match.viewer).view
    return [f"  {line}" for line in view.splitlines()]


def _chess_text(fen: str) -> list[str]:
    """A chess position as rows of pieces (white in capitals, `.` for an empty square)."""
    ranks = _chess_ranks(fen)
    lines = [f"{8 - index} {' '.join(rank)}" for index, rank in enumerate(ranks)]
    side = "white" if fen.split()[1] == "w" else "black"
    return [*lines, "  a b c d e f g h", f"  {side} to move; FEN {fen}"]


def _chess_ranks(fen: str) -> list[list[str]]:
    """The eight ranks of a FEN position, from the 8th down, `.` for empty squares."""
    placement = fen.split()[0]
    return [
        [
            square
            for symbol in rank
            for square in ("." * int(symbol) if symbol.isdigit() else symbol)
        ]
        for rank in placement.split("/")
    ]


def _rows(match: Match) -> list[str]:
    return [line for line in str(match.state).splitlines() if line.strip()]


def _pil() -> tuple[Any, Any, Any]:
    image = import_optional("PIL.Image", extra="games", needed_by="rgb_array renders")
    draw = import_optional("PIL.ImageDraw", extra="games", needed_by="rgb_array renders")
    font = import_optional("PIL.ImageFont", extra="games", needed_by="rgb_array renders")
    return image, draw, font


def _chess_picture(fen: str) -> Any:
    image, draw_module, font_module = _pil()
    picture = image.new("RGB", (8 * SQUARE, 8 * SQUARE), LIGHT)
    draw = draw_module.Draw(picture)
    font = font_module.load_default(size=SQUARE // 2)
    for row, rank in enumerate(_chess_ranks(fen)):
        for column, piece in enumerate(rank):
            left, top = column * SQUARE, row * SQUARE
            if (row + column) % 2:
                draw.rectangle([left, top, left + SQUARE - 1, top + SQUARE - 1], fill=DARK)
            if piece != ".":
                white = piece.isupper()
                inset = SQUARE // 8
                draw.ellipse(
                    [left + inset, top + inset, left + SQUARE - inset, top + SQUARE - inset],
                    fill=PAPER if white else INK,
                    outline=INK,
                    width=2,
                )
                center = (left + SQUARE // 2, top + SQUARE // 2)
                draw.text(
                    center, piece.upper(), fill=INK if white else PAPER, font=font, anchor="mm"
                )
    return picture


def _noughts_and_crosses_picture(rows: list[str]) -> Any:
    image, draw_module, _ = _pil()
    width, height = len(rows[0]) * CELL, len(rows) * CELL
    picture = image.new("RGB", (width, height), PAPER)
    draw = draw_module.Draw(picture)
    for index in range(1, len(rows[0])):
        draw.line([index * CELL, 0, index * CELL, height], fill=INK, width=3)
    for index in range(1, len(rows)):
        draw.line([0, index * CELL, width, index * CELL], fill=INK, width=3)
    inset = CELL // 5
    for row, line in enumerate(rows):
        for column, mark in enumerate(line):
            left, top = column * CELL + inset, row * CELL + inset
            right, bottom = (column + 1) * CELL - inset, (row + 1) * CELL - inset
            if mark == "x":
                draw.line([left, top, right, bottom], fill=CROSS, width=6)
                draw.line([left, bottom, right, top], fill=CROSS, width=6)
            elif mark == "o":
                draw.ellipse([left, top, right, bottom], outline=NOUGHT, width=6)
    return picture


def _connect_four_picture(rows: list[str]) -> Any:
    image, draw_module, _ = _pil()
    picture = image.new("RGB", (len(rows[0]) * CELL, len(rows) * CELL), BOARD_BLUE)
    draw = draw_module.Draw(picture)
    colours = {"x": RED_DISC, "o": YELLOW_DISC}
    inset = CELL // 8
    for row, line in enumerate(rows):
        for column, mark in enumerate(line):
            left, top = column * CELL + inset, row * CELL + inset
            box = [left, top, left + CELL - 2 * inset, top + CELL - 2 * inset]
            draw.ellipse(box, fill=colours.get(mark, PAPER))
    return picture


def _text_picture(text: str) -> Any:
    image, draw_module, font_module = _pil()
    font = font_module.load_default(size=16)
    margin = 12
    measure = draw_module.Draw(image.new("RGB", (1, 1)))
    left, top, right, bottom = measure.multiline_textbbox((0, 0), text, font=font)
    picture = image.new("RGB", (right - left + 2 * margin, bottom - top + 2 * margin), PAPER)
    draw_module.Draw(picture).multiline_text(
        (margin - left, margin - top), text, fill=INK, font=font
    )
    return picture
