"""Reproduce a production incident from what it left behind: access logs, a serving
platform's request log table, or a metrics query, turned into a replayable scenario."""
