"""vdsm-hosted-engine: the Engine VM, highly available on the hosts it manages."""

import re
from pathlib import Path

from setuptools import find_packages, setup

_version = re.search(
    r'^__version__ = "([^"]+)"',
    Path(__file__).with_name("vdsm_hosted_engine").joinpath("__init__.py").read_text(),
    re.M,
).group(1)

setup(
    name="vdsm-hosted-engine",
    version=_version,
    description="Self-hosted oVirt Engine: deploy it as a VM and keep it highly available",
    long_description=Path(__file__).with_name("README.md").read_text(),
    long_description_content_type="text/markdown",
    license="GPL-2.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(include=["vdsm_hosted_engine", "vdsm_hosted_engine.*"]),
    package_data={"vdsm_hosted_engine": ["lab/*.c", "lab/*.sh", "verbs/*.yml"]},
    # sanlock, libvirt and lxml come from the distribution (python3-sanlock has no
    # PyPI release); the venv is made with --system-site-packages to see them.
    install_requires=["PyYAML>=6", "prometheus_client>=0.17"],
    extras_require={
        "tui": ["textual>=0.50"],
        "lab": ["fusepy>=3"],
        "test": ["pytest>=7", "hypothesis>=6", "ruff", "textual>=0.50", "fusepy>=3", "aiosmtpd>=1.4"],
    },
    entry_points={
        "console_scripts": [
            "vdsm-hosted-engine = vdsm_hosted_engine.daemon:main",
            "hosted-engine = vdsm_hosted_engine.cli.hosted_engine:main",
            "hosted-engine-lab = vdsm_hosted_engine.cli.lab:main",
        ],
    },
)
