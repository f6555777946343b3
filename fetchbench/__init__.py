"""fetchbench: benchmark concurrent URL fetching strategies side by side."""

from __future__ import annotations

__version__ = "0.1.0"
