"""Keras's progress bar: `1875/1875 ━━━━━━━━━━━━━━━━━━━━ 2s 1ms/step - accuracy: 0.8712 - loss: 0.3541`.

Differences from Keras (documented in the README): it redraws in place only when stdout is a
terminal (Keras also does on any POSIX system); in logs it writes plain lines without escape
codes, one per `log_interval` seconds and one at the end of each epoch.

Each process decides for itself (is_terminal). Under an MPI launcher a rank's stdout is a pseudo-terminal that
Open MPI forwards to wherever mpirun's own output goes (a log file, often), so isatty() says nothing there: a rank
draws in place only when $GPUNET_PROGRESS_TTY says mpirun's output is a terminal (`gpunet train --processes`
sets it from its own stdout)."""
import math
import os
import sys
import time

# the size variables MPI launchers set in every rank (Open MPI, MPICH/Intel MPI, PMIx): distribution/comm.py's list
_MPI_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE")


def is_terminal(stream):
    """Whether the progress bar may redraw in place on `stream` (escape codes, carriage returns)."""
    forced = os.environ.get("GPUNET_PROGRESS_TTY", "").strip().lower()
    if forced in ("1", "true", "yes"):
        return True
    if forced in ("0", "false", "no"):
        return False
    if any(v in os.environ for v in _MPI_SIZE_VARS):
        return False
    return bool(hasattr(stream, "isatty") and stream.isatty())


def _fmt_value(v):
    if isinstance(v, str):
        return v
    if getattr(v, "ndim", 0):  # a per-class result (F1Score(average=None)): shown as its mean, as Keras shows it
        v = float(sum(float(e) for e in v.reshape(-1)) / max(1, v.size))
    return "%.4f" % v if abs(v) > 1e-3 else "%.4e" % v


def format_time_per_unit(t, unit="step"):
    if t >= 1 or t == 0:
        return " %.0fs/%s" % (t, unit)
    if t >= 1e-3:
        return " %.0fms/%s" % (t * 1e3, unit)
    return " %.0fus/%s" % (t * 1e6, unit)


class Progbar:
    def __init__(self, target, width=20, verbose=1, interval=0.05, unit_name="step",
                 stream=None, log_interval=10.0):
        self.target, self.width, self.verbose = target, width, verbose
        self.interval, self.unit_name, self.log_interval = interval, unit_name, log_interval
        self.stream = stream or sys.stdout
        self.dynamic = is_terminal(self.stream)
        self._start = time.time()
        # in logs the first line comes after log_interval, not at step 1
        self._last_update = 0.0 if self.dynamic else self._start
        self._time_after_first = None
        self._prev_width = 0

    def _step_time(self, current, now):
        if not current:
            return 0.0
        if self._time_after_first is not None and current > 1:
            t = (now - self._time_after_first) / (current - 1)
        else:
            t = (now - self._start) / current
        if current == 1:
            self._time_after_first = now
        return t

    def update(self, current, values=None, finalize=None):
        """values: a list of (name, value) pairs, or a callable returning one (called only when
        the bar is actually drawn, so a metric read-back is paid for only then)."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        now = time.time()
        per_unit = self._step_time(current, now)
        if self.verbose == 1:
            wait = self.interval if self.dynamic else self.log_interval
            if not finalize and now - self._last_update < wait:
                return
            self._last_update = now
            if callable(values):
                values = values()
            self._draw(current, values or [], finalize, now, per_unit)
        elif self.verbose == 2 and finalize:
            if callable(values):
                values = values()
            digits = int(math.log10(self.target)) + 1 if self.target else 1
            line = "%*d/%d - %.0fs -%s" % (digits, current, self.target or current, now - self._start,
                                            format_time_per_unit(per_unit, self.unit_name))
            for k, v in values or []:
                line += " - %s: %s" % (k, _fmt_value(v))
            self.stream.write(line + "\n")
            self.stream.flush()

    def _draw(self, current, values, finalize, now, per_unit):
        bold = (lambda s: "\x1b[1m%s\x1b[0m" % s) if self.dynamic else (lambda s: s)
        if self.target:
            digits = int(math.log10(self.target)) + 1
            count = "%*d/%d" % (digits, current, self.target)
            filled = int(self.width * current / self.target)
            if self.dynamic:
                bar = bold(count) + " " + ("\x1b[32m%s\x1b[0m" % ("━" * filled) if filled else "") + \
                    "\x1b[37m%s\x1b[0m" % ("━" * (self.width - filled))
            else:
                bar = count + " " + "━" * self.width if finalize else count + " " + "━" * filled + \
                    "─" * (self.width - filled)
        else:
            bar = "%7d/Unknown" % current
        if self.target and not finalize:
            eta = per_unit * (self.target - current)
            if eta > 3600:
                eta_s = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_s = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_s = "%ds" % eta
        else:
            eta_s = "%.0fs" % (now - self._start)
        info = " " + bold(eta_s) + format_time_per_unit(per_unit, self.unit_name)
        for k, v in values:
            info += " - %s: %s" % (k, _fmt_value(v))
        if self.dynamic:
            visible = len(_strip(bar + info))
            pad = " " * max(0, self._prev_width - visible)
            self.stream.write("\r" + bar + info + pad + ("\n" if finalize else ""))
            self._prev_width = visible
        else:
            self.stream.write(bar + info + "\n")
        self.stream.flush()


def _strip(s):
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", s)
