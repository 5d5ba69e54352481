"""The notifications' pure parts: the rate limit and de-duplication, the texts, the mail settings."""

import pytest

from vdsm_hosted_engine.errors import InvalidRequest
from vdsm_hosted_engine.ha import mail
from vdsm_hosted_engine.ha.notify import ALERT, TRANSITION, Event, Notifications, Summary, Throttle, body, subject


def transition(detail="EngineUp-EngineDown", sentence="s"):
    return Event(TRANSITION, detail, sentence, 0.0)


def alert(text="the Engine is unhealthy"):
    return Event(ALERT, text, "", 0.0)


def test_the_first_event_goes_out_the_rest_of_the_window_is_summarised_once():
    throttle = Throttle(300)
    assert throttle.offer(transition(), 0) is True
    assert throttle.offer(transition("EngineDown-EngineStart"), 10) is False
    assert throttle.offer(transition("EngineStart-EngineUp", "last"), 20) is False
    assert throttle.next_due() == 300
    assert throttle.due(299) == []
    assert throttle.due(300) == [Summary(2, transition("EngineStart-EngineUp", "last"), 300)]
    assert throttle.due(600) == [] and throttle.next_due() is None
    assert throttle.offer(transition(), 301) is True  # a new window


def test_a_quiet_window_has_no_summary_and_does_not_wake_the_worker():
    throttle = Throttle(300)
    assert throttle.offer(transition(), 0) is True
    assert throttle.next_due() is None
    assert throttle.due(1000) == []


def test_each_distinct_alert_has_its_own_window_and_transitions_share_one():
    throttle = Throttle(300)
    assert throttle.offer(alert("a"), 0) is True
    assert throttle.offer(alert("b"), 1) is True
    assert throttle.offer(transition(), 2) is True
    assert throttle.offer(alert("a"), 3) is False
    assert throttle.offer(transition("EngineDown-EngineUp"), 4) is False


def test_window_zero_sends_everything():
    throttle = Throttle(0)
    assert all(throttle.offer(transition(), t) for t in range(5))
    assert throttle.next_due() is None


def test_texts():
    event = Event(TRANSITION, "EngineUp-EngineMigratingAway", "migrating the Engine VM to host 2", 0.0)
    assert subject(event, "host1", 1) == "hosted-engine on host1 (host 1): EngineUp-EngineMigratingAway"
    assert body(event, "host1", 1) == (
        "State transition EngineUp-EngineMigratingAway at 1970-01-01 00:00:00 UTC: migrating the Engine VM to "
        "host 2.\n\nSent by vdsm-hosted-engine on host1 (host id 1).\n"
    )
    assert subject(alert(), "h", 2) == "hosted-engine alert on h (host 2)"
    summary = body(alert(), "h", 2, Summary(4, alert(), 300))
    assert summary.startswith("4 more times the same alert in 300 s, held back by the rate limit; the last:\nAlert at")


def test_transitions_are_events_only_on_a_change_and_a_full_queue_drops_without_blocking():
    notifier = Notifications(1, "h", dict, queue_size=2)  # not started: nothing takes from the queue
    for state in ("EngineDown", "EngineDown", "EngineStart", "EngineUp", "EngineDown"):
        notifier.transition(state, "s")
    details = [e.detail for e in notifier.recent]
    assert details == ["EngineDown-EngineStart", "EngineStart-EngineUp", "EngineUp-EngineDown"]
    assert notifier.queue.qsize() == 2 and notifier.dropped == 1


@pytest.mark.parametrize(
    "values",
    [{}, {"he.smtpServer": ""}, {"he.smtpServer": "mail.example.com"}],  # no server, or no recipient
)
def test_no_server_or_no_recipient_means_no_mail(values):
    assert mail.MailSettings.from_shared(values) is None


def test_mail_settings_defaults_and_port_by_security():
    values = {"he.smtpServer": "Mail.Example.com", "he.destEmails": "ops@example.com"}
    settings = mail.MailSettings.from_shared(values)
    assert (settings.server, settings.port, settings.security, settings.sender) == (
        "mail.example.com", 25, "none", "root@localhost",
    )  # fmt: skip
    assert mail.MailSettings.from_shared({**values, "he.smtpSecurity": "ssl"}).port == 465
    assert mail.MailSettings.from_shared({**values, "he.smtpSecurity": "starttls"}).port == 587


def test_a_user_needs_a_usable_password_file(tmp_path):
    values = {"he.smtpServer": "m", "he.destEmails": "ops@example.com", "he.smtpUser": "he"}
    with pytest.raises(InvalidRequest, match="names no smtp_password_file"):
        mail.MailSettings.from_shared(values)
    with pytest.raises(InvalidRequest, match="cannot read the SMTP password file"):
        mail.MailSettings.from_shared(values, str(tmp_path / "absent"))
    empty = tmp_path / "empty"
    empty.write_text("")
    empty.chmod(0o600)
    with pytest.raises(InvalidRequest, match="is empty"):
        mail.MailSettings.from_shared(values, str(empty))
    good = tmp_path / "good"
    good.write_text("pw\n")
    good.chmod(0o600)
    settings = mail.MailSettings.from_shared(values, str(good))
    assert settings.password == "pw" and "pw" not in repr(settings)
