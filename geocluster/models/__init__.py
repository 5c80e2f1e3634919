"""Spatial regression of firm outcomes, effects by innovator type, matching."""
