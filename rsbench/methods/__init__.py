"""Methods: one protocol (:class:`Method`), a registry, and the shared torch parts they are built from.

A method is a frozen, documented config dataclass plus a :class:`Method` subclass registered by name::

    @register("my_method")
    class MyMethod(Method):
        Config = MyConfig
        ...

Built-in methods are imported on first use of the registry, third-party ones through the
``rsbench.methods`` entry point group or a ``--method-file``.
"""

from rsbench.methods.base import DataSpec, Method, MethodConfig, Space
from rsbench.methods.registry import available, create, get, load_method_file, register

__all__ = [
    "DataSpec",
    "Method",
    "MethodConfig",
    "Space",
    "available",
    "create",
    "get",
    "load_method_file",
    "register",
]
