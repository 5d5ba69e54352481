"""vdsm-hosted-engine: run the oVirt Engine as a VM on the hosts it manages, highly available.

Layers (imports point down only), see docs and DESIGN.md section 3::

    cli/, deploy/          verbs/, rpc/
    ha/ (fsm, score pure)  broker/
    storage/               virt/
    config, constants, errors
"""

__version__ = "0.1.0"
