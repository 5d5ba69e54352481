"""`hosted-engine --deploy --help` documents every deploy option (seen: almost none was)."""

import argparse

from vdsm_hosted_engine.cli import deploy


def test_every_deploy_option_has_help():
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 14
    assert [a.option_strings[0] for a in options if not a.help] == []


def test_the_domain_type_defaults_to_what_the_host_offers():
    parser = argparse.ArgumentParser()
    deploy.add_arguments(parser)
    assert parser.parse_args([]).domain_type == "auto"
    assert parser.parse_args(["--allow-local-storage"]).allow_local_storage is True
