"""VDSM hook logic (the executables in vdsm_hooks/ are thin wrappers around these modules)."""
