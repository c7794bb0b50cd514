"""Side effects: model providers, tool execution, spec resolution. Built and wired in ``workers``."""

from activities._models import ModelActivities
from activities._specs import SpecActivities
from activities._tools import ToolActivities

__all__ = ["ModelActivities", "SpecActivities", "ToolActivities"]
