"""The instances domain: provider connections, their encrypted credentials, connection tests and env import.

The app registers `EVENT_TYPES`, opens the `Vault` and the `InstanceListView` (an inline view) with the
store, builds `Instances` from them, and mounts `InstancesController` and `EnvImportController`.
"""

from backend.instances.controller import EnvImportController, InstancesController
from backend.instances.events import EVENT_TYPES
from backend.instances.service import Instances
from backend.instances.vault import Vault
from backend.instances.view import InstanceListView, InstanceView

__all__ = [
    "EVENT_TYPES",
    "EnvImportController",
    "InstanceListView",
    "InstanceView",
    "Instances",
    "InstancesController",
    "Vault",
]
