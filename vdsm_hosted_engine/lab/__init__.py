"""The multi-host lab: real sanlock, libvirtd and qemu for several hosts on one machine."""
