"""`model.summary()` drawn as Keras 3 draws it (the rich table, box characters and totals)."""
import shutil
import sys

import numpy as np


def readable_size(nbytes):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return "%.2f %s" % (nbytes, unit)
        nbytes /= 1024
    return "%.2f PB" % nbytes


def _memory(weights):
    return sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in weights)


def _count(weights):
    return sum(int(np.prod(w.shape)) for w in weights)


def _column_widths(line_length, positions):
    widths, current = [], 0
    for pos in positions:
        w = int(pos * line_length) - current
        widths.append(w)
        current += w
    # rich shrinks columns to fit the borders by spreading the excess evenly (ratio_reduce)
    excess = sum(widths) + len(widths) + 1 - line_length
    remaining, ratio_total, out = excess, len(widths), []
    for w in widths:
        d = int(round(remaining / ratio_total)) if ratio_total else 0
        out.append(w - d)
        remaining -= d
        ratio_total -= 1
    return out


def _wrap(text, width):
    """Greedy word wrap at spaces, as rich (Keras's table printer) does; a word longer than the
    column is cut into column-wide pieces."""
    lines, cur = [], ""
    for word in text.split(" "):
        while len(word) > width:
            if cur:
                lines.append(cur)
                cur = ""
            lines.append(word[:width])
            word = word[width:]
        if not cur:
            cur = word
        elif len(cur) + 1 + len(word) <= width:
            cur += " " + word
        else:
            lines.append(cur)
            cur = word
    lines.append(cur)
    return lines


def render(name, rows, headers, aligns, trainable, non_trainable, optimizer_vars=None,
           line_length=None, positions=None):
    if line_length is None:
        line_length = min(88 if len(headers) == 3 else 108, shutil.get_terminal_size().columns - 4)
    positions = positions or ([0.45, 0.80, 1.0] if len(headers) == 3 else [0.3, 0.56, 0.74, 1.0])
    widths = _column_widths(line_length, positions)

    def border(left, mid, right, fill):
        return left + mid.join(fill * w for w in widths) + right

    def row(cells, sep):
        wrapped = [_wrap(str(c), w - 2) for c, w in zip(cells, widths)]
        lines = []
        for i in range(max(len(c) for c in wrapped)):
            parts = []
            for c, w, a in zip(wrapped, widths, aligns):
                t = c[i] if i < len(c) else ""
                parts.append(" " + (t.rjust(w - 2) if a == "right" else t.ljust(w - 2)) + " ")
            lines.append(sep + sep.join(parts) + sep)
        return lines

    out = ['Model: "%s"' % name, border("┏", "┳", "┓", "━")]
    out += row(headers, "┃")
    out.append(border("┡", "╇", "┩", "━"))
    for i, r in enumerate(rows):
        if i:
            out.append(border("├", "┼", "┤", "─"))
        out += row(r, "│")
    out.append(border("└", "┴", "┘", "─"))
    t_count, n_count = _count(trainable), _count(non_trainable)
    t_mem, n_mem = _memory(trainable), _memory(non_trainable)
    o_count = _count(optimizer_vars) if optimizer_vars else 0
    o_mem = _memory(optimizer_vars) if optimizer_vars else 0
    out.append(" Total params: {:,} ({})".format(t_count + n_count + o_count, readable_size(t_mem + n_mem + o_mem)))
    out.append(" Trainable params: {:,} ({})".format(t_count, readable_size(t_mem)))
    out.append(" Non-trainable params: {:,} ({})".format(n_count, readable_size(n_mem)))
    if optimizer_vars:
        out.append(" Optimizer params: {:,} ({})".format(o_count, readable_size(o_mem)))
    return "\n".join(out)


def format_shape(shape):
    if shape is None:
        return "?"
    if isinstance(shape, list):
        return "[" + ", ".join(format_shape(s) for s in shape) + "]"
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def print_summary(text, print_fn=None):
    if print_fn is None:
        sys.stdout.write(text + "\n")
    else:
        print_fn(text)
