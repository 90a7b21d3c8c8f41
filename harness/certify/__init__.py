"""Go-live certification: a readiness spec's checks run on one system, one verdict, one report."""

from harness.certify.certificate import Certificate, write_certificate
from harness.certify.checks import CheckResult
from harness.certify.run import certify
from harness.certify.spec import CHECKS, Goal, ReadinessSpec, load_readiness

__all__ = [
    "CHECKS",
    "Certificate",
    "CheckResult",
    "Goal",
    "ReadinessSpec",
    "certify",
    "load_readiness",
    "write_certificate",
]
