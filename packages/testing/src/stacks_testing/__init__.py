"""stacks-testing: the test kit every stacks package tests itself with.

* :mod:`stacks_testing.suites`: conformance suites (``BaseELSuite``, ``BaseTransformSuite``,
  ``BaseOrchestratorSuite``, ``BaseTriggerSuite``) a package subclasses;
* :mod:`stacks_testing.reference`: tool-free reference steps the suites run;
* :mod:`stacks_testing.plugin`: the opt-in pytest plugin with the Postgres/DuckDB fixtures
  (``pytest_plugins = ("stacks_testing.plugin",)`` in a ``conftest.py``);
* :mod:`stacks_testing.demo.shop`: the deterministic demo shop API the stacks load.
"""

__all__: list[str] = []
