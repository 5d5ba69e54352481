"""The deploy TUI in a real terminal (tmux) at 80x24 and 120x40: the questions show with their
inputs, typed text is visible, one Tab moves to the next field, Escape cancels with nothing changed.

Seen before: at 80x24 no input was visible and questions were missing, at 200x50 typed text was
invisible, and Tab needed two presses per field (each question was its own focusable scroll box)."""

import os
import shlex
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Tmux:
    """One tmux server of our own (its own socket name), killed at the end."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.name, *args], capture_output=True, text=True, check=True, timeout=30
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "he")

    def wait_for(self, text: str, deadline: float = 60.0) -> str:
        """The screen once it shows `text` (a wait for the app to draw, not a speed check)."""
        end = time.monotonic() + deadline
        while True:
            screen = self.screen()
            if text in screen or time.monotonic() > end:
                return screen
            time.sleep(0.2)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True, timeout=30)


@pytest.mark.parametrize("width, height", [(80, 24), (120, 40)])
def test_the_tui_in_a_real_terminal(tmp_path, width, height):
    (tmp_path / "d").mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "a.qcow2"), "16M"], check=True)
    answers = tmp_path / "answers.conf"
    answers.write_text(
        f"[environment:default]\nOVEHOSTED_STORAGE/path=str:{tmp_path}/d\n"
        f"OVEHOSTED_VM/applianceImage=str:{tmp_path}/a.qcow2\n"
    )
    command = [
        sys.executable, "-m", "vdsm_hosted_engine.cli.hosted_engine", "--deploy", "--tui",
        f"--config-append={answers}", f"--conf-dir={tmp_path}/etc", "--allow-local-storage", "--domain-type=test",
        "--libvirt-uri=test:///default",
    ]  # fmt: skip
    shell = f"cd {shlex.quote(ROOT)} && PYTHONPATH={shlex.quote(ROOT)} {shlex.join(command)}; echo EXIT=$?; sleep 600"
    tmux = Tmux(f"he-tui-{os.getpid()}-{width}")
    try:
        tmux("new-session", "-d", "-s", "he", "-x", str(width), "-y", str(height), shell)
        screen = tmux.wait_for("Cancel", deadline=20)
        (tmp_path / f"screen-{width}x{height}.txt").write_text(screen)
        lines = screen.splitlines()
        assert "hosted-engine --deploy" in lines[0]  # the header
        assert "STORAGE" in screen and "Storage domain path" in screen
        assert "d" in screen and f"{tmp_path}/d"[-(width - 8) :] in screen  # the answer-file value, visible
        assert "10 (default)" in screen  # the next input, with its default as placeholder
        assert "Cancel" in screen.rstrip().splitlines()[-1], screen  # the footer
        # Keys only once the first question has them (the header says which one): a Tab sent before the
        # app focused it went to the path field itself, and 99 replaced the answer-file value.
        assert "question 1 of" in tmux.wait_for("question 1 of"), screen
        tmux("send-keys", "-t", "he", "Tab")
        assert "question 2 of" in tmux.wait_for("question 2 of")
        tmux("send-keys", "-t", "he", "-l", "99")
        screen = tmux.wait_for("99 s is out of range: must be between 1 and 60")
        (tmp_path / f"screen-{width}x{height}-typed.txt").write_text(screen)
        # One Tab from the first question to the second; the typed text shows, validated at once.
        assert "99 s is out of range: must be between 1 and 60" in screen, screen
        assert "▊  99 " in screen and f"{tmp_path}/d"[-(width - 8) :] in screen
        tmux("send-keys", "-t", "he", "Escape")
        screen = tmux.wait_for("EXIT=")
        assert "deploy cancelled: nothing was changed" in screen and "EXIT=1" in screen, screen
        assert not (tmp_path / "etc").exists()
    finally:
        tmux.kill()
