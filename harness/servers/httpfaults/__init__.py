"""HTTP faults as a serving hop applies them: which active faults hit a call, and the control
endpoint that switches them on and off by name (shared by the stubs and the fault layer)."""

from harness.servers.httpfaults.active import ActiveFaults, Answer, Decision
from harness.servers.httpfaults.control import add_control_routes

__all__ = ["ActiveFaults", "Answer", "Decision", "add_control_routes"]
