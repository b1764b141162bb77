"""Production mode, the shared cache and the Dolt cluster, on real servers of their own."""

from tests.servers import own_dolt  # noqa: F401  (the fixture)
