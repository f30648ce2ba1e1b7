"""The console page: clusters, services, tasks, events and metric charts, live in a browser.

``pyecs up --console`` serves it, and ``pyecs serve`` mounts it at ``/console``; to mount
it in your own ASGI server: ``ConsoleApp(lambda: [cluster])``. The page, its script and
style ship in the wheel and load nothing from elsewhere.
"""

from pyecs.console._app import ConsoleApp
from pyecs.console._snapshot import snapshot

__all__ = ["ConsoleApp", "snapshot"]
