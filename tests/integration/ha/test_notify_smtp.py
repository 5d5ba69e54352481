"""Notifications against a real SMTP server (aiosmtpd, started here on loopback): plain, STARTTLS and
SSL with a test CA made here, authentication (accepted and refused), a server that never answers
(the producers are not held up), and the daemon's path from an alert to a mail with the settings
stored on the domain. Every server is stopped by the test that started it, pass or fail."""

import email
import email.policy
import socket
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests import pki as test_pki
from tests.integration.conftest import wait_for
from vdsm_hosted_engine.ha import mail
from vdsm_hosted_engine.ha.notify import Notifications
from vdsm_hosted_engine.ha.real_env import RealEnv
from vdsm_hosted_engine.storage.shared_config import SharedConfig

USER, PASSWORD = "he-notify", "s3cret-do-not-log"


class Inbox:
    """aiosmtpd handler keeping every message it accepts, as `Subject:`/`To:` lines and the body."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        m = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(f"Subject: {m['Subject']}\nTo: {m['To']}\n\n{m.get_content()}")
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


class LoopbackController(Controller):
    """aiosmtpd on a port the kernel picks (Controller itself needs the port up front)."""

    def __init__(self, handler, **kwargs):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        super().__init__(handler, hostname="127.0.0.1", port=self.sock.getsockname()[1], **kwargs)

    def _create_server(self):
        return self.loop.create_server(self._factory_invoker, sock=self.sock, ssl=self.ssl_context)


@pytest.fixture(scope="module")
def tmp_ca(tmp_path_factory):
    """A test CA and a certificate for 127.0.0.1 it signed (EC keys: fast to make)."""
    d = tmp_path_factory.mktemp("smtp-pki")

    test_pki.make_ca(d)
    test_pki.issue(d, "smtp.key", "smtp.pem")
    return d


def server_tls(pki):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki / "smtp.pem", pki / "smtp.key")
    return context


@pytest.fixture
def smtp_server():
    """Factory: smtp_server(**aiosmtpd options) -> (Inbox, port); each stopped afterwards."""
    started = []

    def start(**kwargs):
        inbox = Inbox()
        controller = LoopbackController(inbox, **kwargs)
        controller.start()
        started.append(controller)
        return inbox, controller.port

    yield start
    for controller in started:
        controller.stop()


def settings_for(port, **extra):
    return {
        "he.smtpServer": "127.0.0.1",
        "he.smtpPort": str(port),
        "he.sourceEmail": "he@host1.lab",
        "he.destEmails": "ops@example.com,dba@example.com",
        **extra,
    }


@pytest.fixture
def tmp_notifier():
    """Factory: tmp_notifier(values, **options) -> a started Notifications; stopped afterwards."""
    started = []

    def start(values, **options):
        notifier = Notifications(1, "host1", lambda: values, **options)
        notifier.start()
        started.append(notifier)
        return notifier

    yield start
    for notifier in started:
        notifier.stop(timeout=5)


def tmp_password_file(tmp_path, mode=0o600):
    path = tmp_path / "smtp-password"
    path.write_text(PASSWORD + "\n")
    path.chmod(mode)
    return str(path)


def test_a_matching_transition_and_an_alert_are_mailed_in_plain_smtp(smtp_server, tmp_notifier):
    inbox, port = smtp_server()
    notifier = tmp_notifier(settings_for(port))
    notifier.transition("EngineDown", "no action: another host runs the Engine VM")
    notifier.transition("EngineDown", "no action: another host runs the Engine VM")  # no change: no event
    notifier.transition("EngineStart", "started the Engine VM because this host has the best score (3400)")
    notifier.alert("the Engine is still unhealthy after 1 restart(s)")
    wait_for(lambda: len(inbox.messages) == 2, timeout=20, what="two mails")
    transition, alert = sorted(inbox.messages, key=lambda m: "alert" in m)
    assert "Subject: hosted-engine on host1 (host 1): EngineDown-EngineStart" in transition
    assert "To: ops@example.com, dba@example.com" in transition
    assert "started the Engine VM because this host has the best score (3400)" in transition
    assert "Subject: hosted-engine alert on host1 (host 1)" in alert
    assert "the Engine is still unhealthy after 1 restart(s)" in alert
    assert notifier.sent == 2 and notifier.failed == 0


def test_a_transition_the_pattern_does_not_match_is_not_mailed(smtp_server, tmp_notifier):
    inbox, port = smtp_server()
    notifier = tmp_notifier(settings_for(port, **{"he.notifyPattern": "Migrat"}))
    notifier.transition("EngineDown", "x")
    notifier.transition("EngineStart", "not mailed: no Migrat in EngineDown-EngineStart")
    notifier.transition("EngineMigratingAway", "mailed")
    wait_for(lambda: len(inbox.messages) == 1, timeout=20, what="one mail")
    notifier.stop(timeout=5)  # the worker handled every event queued before
    assert len(inbox.messages) == 1 and "EngineStart-EngineMigratingAway" in inbox.messages[0]


def test_a_flapping_host_sends_one_mail_per_window_then_a_summary_with_the_count(smtp_server, tmp_notifier):
    inbox, port = smtp_server()
    notifier = tmp_notifier(settings_for(port, **{"he.notifyWindow": "2"}))
    states = ["EngineUp", "EngineDown"] * 4
    for state in states:
        notifier.transition(state, f"now {state}")
    # the first change is mailed at once; the 6 others are counted and summarised when the window ends
    wait_for(lambda: len(inbox.messages) == 2, timeout=20, what="a mail and its summary")
    first, summary = inbox.messages
    assert "EngineUp-EngineDown" in first
    assert "6 more state transitions in 2 s, held back by the rate limit; the last:" in summary
    assert "EngineUp-EngineDown" in summary and "now EngineDown" in summary


def test_starttls_with_authentication_against_a_test_ca(smtp_server, tmp_notifier, tmp_ca, tmp_path, caplog):
    inbox, port = smtp_server(
        tls_context=server_tls(tmp_ca), require_starttls=True, authenticator=authenticate, auth_required=True
    )
    values = settings_for(port, **{"he.smtpSecurity": "starttls", "he.smtpUser": USER})
    notifier = tmp_notifier(values, password_file=tmp_password_file(tmp_path), ca_file=str(tmp_ca / "ca.pem"))
    notifier.alert("over STARTTLS")
    wait_for(lambda: inbox.messages, timeout=20, what="a mail over STARTTLS")
    assert "over STARTTLS" in inbox.messages[0]
    assert PASSWORD not in caplog.text


def test_implicit_ssl(smtp_server, tmp_ca):
    inbox, port = smtp_server(ssl_context=server_tls(tmp_ca))
    settings = mail.MailSettings.from_shared(
        settings_for(port, **{"he.smtpSecurity": "ssl"}), ca_file=str(tmp_ca / "ca.pem")
    )
    assert mail.send(settings, mail.message(settings, "over SSL", "body")) is True
    assert "Subject: over SSL" in inbox.messages[0]


def test_a_server_certificate_from_another_ca_is_refused(smtp_server, tmp_ca, caplog):
    inbox, port = smtp_server(tls_context=server_tls(tmp_ca), require_starttls=True)
    settings = mail.MailSettings.from_shared(settings_for(port, **{"he.smtpSecurity": "starttls"}))  # system CAs
    assert mail.send(settings, mail.message(settings, "s", "b"), timeout=10) is False
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text and inbox.messages == []


def test_a_refused_login_is_logged_without_the_password(smtp_server, tmp_ca, tmp_path, caplog):
    inbox, port = smtp_server(tls_context=server_tls(tmp_ca), authenticator=authenticate, auth_required=True)
    password_file = tmp_path / "wrong"
    password_file.write_text("not-the-password\n")
    password_file.chmod(0o600)
    values = settings_for(port, **{"he.smtpSecurity": "starttls", "he.smtpUser": USER})
    settings = mail.MailSettings.from_shared(values, str(password_file), str(tmp_ca / "ca.pem"))
    assert mail.send(settings, mail.message(settings, "s", "b"), timeout=10) is False
    assert f"login as {USER!r} refused (535)" in caplog.text
    assert "not-the-password" not in caplog.text and "not-the-password" not in repr(settings)
    assert inbox.messages == []


def test_a_password_file_others_can_read_is_refused_and_nothing_is_sent(smtp_server, tmp_notifier, tmp_path, caplog):
    inbox, port = smtp_server()
    values = settings_for(port, **{"he.smtpUser": USER})
    notifier = tmp_notifier(values, password_file=tmp_password_file(tmp_path, mode=0o644))
    notifier.alert("not sent")
    notifier.stop(timeout=5)
    assert "must belong to root and be readable by its owner only (it is mode 0644" in caplog.text
    assert inbox.messages == [] and PASSWORD not in caplog.text


def test_a_stored_non_numeric_port_is_reported_not_raised(tmp_notifier, caplog):
    notifier = tmp_notifier(settings_for("twenty-five"))
    notifier.alert("x")
    notifier.stop(timeout=5)
    assert "no e-mail sent: he.smtpPort: 'twenty-five': not an integer" in caplog.text


def test_a_hanging_server_never_holds_up_the_producers(tmp_notifier):
    """Given a server that accepts and never greets, when the worker is stuck on it, then hundreds of
    events are still taken at once: the queue fills and the overflow is dropped and counted."""
    hang = socket.socket()
    hang.bind(("127.0.0.1", 0))
    hang.listen()
    accepted = []
    connected = threading.Event()

    def accept():
        accepted.append(hang.accept()[0])
        connected.set()

    threading.Thread(target=accept, daemon=True).start()
    try:
        notifier = tmp_notifier(settings_for(hang.getsockname()[1]), queue_size=8, smtp_timeout=300)
        notifier.alert("the worker is stuck on this one")
        assert connected.wait(20), "the worker did not connect"
        for i in range(200):
            notifier.transition("EngineUp" if i % 2 else "EngineDown", "flapping")
            notifier.alert(f"alert {i}")
        assert notifier.dropped > 300 and len(notifier.recent) == 100
    finally:
        for conn in accepted:
            conn.close()  # the worker's read ends: it goes on and stops
        hang.close()


def test_the_daemons_alert_path_mails_with_the_settings_stored_on_the_domain(smtp_server, tmp_domain, tmp_path):
    inbox, port = smtp_server()
    shared = SharedConfig(tmp_domain.shared_conf_path)
    for key, value in settings_for(port).items():
        shared.set(key, value)
    notifier = Notifications(1, "host1", lambda: shared.read()[0])
    notifier.start()
    try:
        env = RealEnv(1, tmp_domain, runtime=None, broker=None, ha_conf_path=str(tmp_path / "ha.conf"))
        env.notifier = notifier
        env._alert("the Engine is still unhealthy after 1 restart(s)")
        wait_for(lambda: inbox.messages, timeout=20, what="the alert mail")
    finally:
        notifier.stop(timeout=5)
    assert "the Engine is still unhealthy after 1 restart(s)" in inbox.messages[0]
