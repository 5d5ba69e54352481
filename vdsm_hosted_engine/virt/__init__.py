"""The Engine VM on libvirt: its domxml, the VDSM hook runner, the runtime."""
