"""Alert e-mail over a real SMTP conversation on loopback, with the settings deploy stores on the
domain; an unreachable server is logged, never raised."""

import socketserver
import threading

from vdsm_hosted_engine.ha import mail
from vdsm_hosted_engine.ha.real_env import RealEnv
from vdsm_hosted_engine.storage.shared_config import SharedConfig


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough SMTP to receive a message (EHLO, MAIL, RCPT, DATA, QUIT)."""

    def handle(self):
        self.wfile.write(b"220 sink ready\r\n")
        while line := self.rfile.readline():
            command = line.strip().upper()
            if command.startswith(b"DATA"):
                self.wfile.write(b"354 go on\r\n")
                body = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    body.append(data)
                self.server.messages.append(b"".join(body).decode())
                self.wfile.write(b"250 queued\r\n")
            elif command.startswith(b"QUIT"):
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


def test_alert_is_mailed_with_the_deployed_settings(tmp_domain, tmp_path):
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    server.messages = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        shared = SharedConfig(tmp_domain.shared_conf_path)
        for key, value in (
            ("he.smtpServer", "127.0.0.1"),
            ("he.smtpPort", str(server.server_address[1])),
            ("he.sourceEmail", "he@host1.lab"),
            ("he.destEmails", "ops@example.com,dba@example.com"),
        ):
            shared.set(key, value)
        env = RealEnv(1, tmp_domain, runtime=None, broker=None, ha_conf_path=str(tmp_path / "ha.conf"))
        env._alert("the Engine is still unhealthy after 1 restart(s)").join(10)
    finally:
        server.shutdown()
        server.server_close()
    assert len(server.messages) == 1
    text = server.messages[0]
    assert "Subject: hosted-engine alert on" in text and "(host 1)" in text
    assert "To: ops@example.com, dba@example.com" in text
    assert "the Engine is still unhealthy after 1 restart(s)" in text


def test_no_smtp_configured_means_no_mail_and_an_unreachable_server_is_only_logged(tmp_domain, tmp_path, caplog):
    env = RealEnv(1, tmp_domain, runtime=None, broker=None, ha_conf_path=str(tmp_path / "ha.conf"))
    assert env._alert("nothing configured") is None
    settings = mail.MailSettings("127.0.0.1", 9, "he@h", ("ops@example.com",))  # discard port: refused
    assert mail.send(settings, mail.message(settings, 1, "h1", "x"), timeout=2) is False
    assert "could not send the alert e-mail" in caplog.text


def test_a_bad_smtp_port_written_by_another_host_is_logged_and_the_alert_goes_on(tmp_domain, tmp_path, caplog):
    """Finding 3: `int()` of a non-numeric `he.smtpPort` raised out of the alert path, and every
    host's daemon exited at its next alert."""
    from vdsm_hosted_engine.storage.shared_config import render

    with open(tmp_domain.shared_conf_path, "w") as f:  # as an older version or a typo would leave it
        f.write(render({"he.smtpServer": "127.0.0.1", "he.smtpPort": "twenty-five", "he.destEmails": "a@b.c"}, 1))
    env = RealEnv(1, tmp_domain, runtime=None, broker=None, ha_conf_path=str(tmp_path / "ha.conf"))
    assert env._alert("the Engine VM died") is None
    assert "cannot read the alert settings: he.smtpPort: 'twenty-five': not an integer" in caplog.text
