"""Late penalties beyond nbgrader's built-in "none" and "zero", as nbgrader plugins.

    c.AssignLatePenalties.plugin_class = "grading.late.PerDay"
    c.PerDay.fraction_per_day = 0.1      # 10% of the notebook's score per started day late
"""

from __future__ import annotations

import math

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Float


class PerDay(LateSubmissionPlugin):
    """A fraction of the notebook's score for each started day (24 h) late, at most the score."""

    fraction_per_day = Float(0.1, help="fraction of the score lost per started day late").tag(config=True)

    def late_submission_penalty(self, student_id: str, score: float, total_seconds_late: float) -> float:
        if not 0 <= self.fraction_per_day <= 1:
            raise ValueError(f"PerDay.fraction_per_day must be in [0, 1], got {self.fraction_per_day}")
        days = math.ceil(total_seconds_late / 86400)
        return min(score, score * self.fraction_per_day * days)
