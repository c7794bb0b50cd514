"""Side effects: model providers, tool execution, spec resolution. Built and wired in ``workers``."""

from duragent.activities._models import ModelActivities
from duragent.activities._specs import SpecActivities
from duragent.activities._tools import ToolActivities

__all__ = ["ModelActivities", "SpecActivities", "ToolActivities"]
