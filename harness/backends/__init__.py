"""Where a topology's services run: the docker backend (the process one is harness.topology)."""

from harness.backends.docker_topology import DockerStack, docker_stack, docker_topology
from harness.backends.engine import connect, unavailable_reason
from harness.backends.images import ImageRecipe, ensure_serving_image
from harness.backends.labels import reap_dead_runs

__all__ = [
    "DockerStack",
    "ImageRecipe",
    "connect",
    "docker_stack",
    "docker_topology",
    "ensure_serving_image",
    "reap_dead_runs",
    "unavailable_reason",
]
