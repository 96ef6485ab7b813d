"""Everything that talks to another system: the PMS source, accounting providers, simulators.

Nothing in this package imports ``daemon``: the dependency points one way.
"""
