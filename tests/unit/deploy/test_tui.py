"""The TUI, driven headless with Textual's pilot: same questions, validation, defaults."""

import asyncio
import socket
import subprocess

import pytest

textual = pytest.importorskip("textual")

from textual.widgets import Button, Input, Static  # noqa: E402

from vdsm_hosted_engine.deploy import answers as answer_file  # noqa: E402
from vdsm_hosted_engine.deploy.questions import BY_KEY  # noqa: E402
from vdsm_hosted_engine.deploy.tui import DeployForm, _id  # noqa: E402
from vdsm_hosted_engine.deploy.validators import Context  # noqa: E402

# A local storage directory; libvirt's test driver (no bridge checked).
LOCAL = Context(allow_local_storage=True, domain_type="test")


def preset(tmp_path):
    (tmp_path / "domain").mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "a.qcow2"), "16M"], check=True)
    return answer_file.parse(
        "[environment:default]\n"
        f"OVEHOSTED_STORAGE/path=str:{tmp_path}/domain\nOVEHOSTED_NETWORK/gateway=str:127.0.0.1\n"
        f"OVEHOSTED_VM/applianceImage=str:{tmp_path}/a.qcow2\nOVEHOSTED_VM/memMiB=int:128\n"
        "OVEHOSTED_VM/cmdline=str:console=ttyS0\n",
        "a.conf",
        LOCAL,
    )


async def fill(app, pilot, key, text):
    field = app.query_one(f"#{_id(BY_KEY[key])}", Input)
    field.value = text
    await pilot.pause()


def test_tui_validates_then_deploys_with_the_answers(tmp_path):
    async def scenario():
        app = DeployForm(preset(tmp_path), LOCAL)
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.pause()
            # The FQDN has no default: Deploy is refused until it is given.
            app.query_one("#deploy", Button).press()
            await pilot.pause()
            assert "not valid" in str(app.query_one("#summary", Static).render())
            await fill(app, pilot, "OVEHOSTED_STORAGE/ioTimeout", "99")
            error = app.query_one(f"#{_id(BY_KEY['OVEHOSTED_STORAGE/ioTimeout'])}-error", Static)
            assert "99 s is out of range: must be between 1 and 60" in str(error.render())
            await fill(app, pilot, "OVEHOSTED_STORAGE/ioTimeout", "1")
            await fill(app, pilot, "OVEHOSTED_VM/fqdn", "192.0.2.10")
            await fill(app, pilot, "OVEHOSTED_VM/cloudinitNetwork", "dhcp")
            # tcp makes its port question appear, with its default
            port_box = app.query_one(f"#{_id(BY_KEY['OVEHOSTED_NETWORK/networkTestPort'])}-box")
            assert port_box.display is False
            await fill(app, pilot, "OVEHOSTED_NETWORK/networkTest", "tcp")
            assert port_box.display is True
            await fill(app, pilot, "OVEHOSTED_NETWORK/networkTestPort", str(port))
            # Deploy shows the summary; Back returns to the form, Confirm ends it.
            app.query_one("#deploy", Button).press()
            await pilot.pause()
            rows = [str(w.render()) for w in app.screen.query(Static)]
            assert "CONFIGURATION PREVIEW" in rows and "Engine VM FQDN or IP address: 192.0.2.10" in rows
            app.screen.query_one("#back", Button).press()
            await pilot.pause()
            assert app.return_value is None and isinstance(app.screen.query_one("#deploy", Button), Button)
            app.query_one("#deploy", Button).press()
            await pilot.pause()
            app.screen.query_one("#confirm", Button).press()
            await pilot.pause()
        return app.return_value

    with socket.create_server(("127.0.0.1", 0)) as listener:  # what the tcp test connects to
        port = listener.getsockname()[1]
        answers = asyncio.run(scenario())
    assert answers["OVEHOSTED_STORAGE/ioTimeout"] == 1
    assert answers["OVEHOSTED_VM/fqdn"] == "192.0.2.10"
    assert answers["OVEHOSTED_NETWORK/networkTestPort"] == port
    assert answers["OVEHOSTED_VM/healthUrl"] == "http://192.0.2.10/ovirt-engine/services/health"
    assert answers["OVEHOSTED_VM/memMiB"] == 128  # from the answer file
    assert answers["OVEHOSTED_VM/cmdline"] == "console=ttyS0"  # never asked, kept (seen dropped)


def test_tui_cancel_returns_nothing(tmp_path):
    async def scenario():
        app = DeployForm(preset(tmp_path), LOCAL)
        async with app.run_test(size=(120, 60)) as pilot:
            await pilot.pause()
            app.query_one("#cancel", Button).press()
            await pilot.pause()
        return app.return_value

    assert asyncio.run(scenario()) is None
