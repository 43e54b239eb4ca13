"""Runtime: run lifecycle and the decision log (see :mod:`framework.runtime.core`)."""

from framework.runtime.core import Runtime
from framework.runtime.records import Decision, Outcome, Problem, RunLog, RunSummary

__all__ = ["Decision", "Outcome", "Problem", "RunLog", "RunSummary", "Runtime"]
