"""`publisher check` renders every digest: what `digest create` would refuse, it reports first."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.mail.preflight import digest_problems, public_now, sample_articles
from publisher.site.gather import check_content
from tests.conftest import SAMPLE_NOW, Site
from tests.test_cli import run

DAILY_SUBJECT = 'subject = "{{ site.title }}: {{ edition.date | date }}"'


def files_of(site: Site) -> list[Path]:
    return sorted(path.relative_to(site.root) for path in site.root.rglob("*"))


def edit_config(site: Site, old: str, new: str) -> None:
    text = site.config_path.read_text()
    assert old in text
    site.config_path.write_text(text.replace(old, new, 1))


def assert_check_fails_naming(site: Site, digest: str, problem: str) -> str:
    before = files_of(site)
    result = run(site, "check")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith(f"digest {digest}:")]
    assert problem in line
    assert files_of(site) == before  # wrote nothing: no store, no feeds, no archive
    return line


@pytest.mark.parametrize(
    "subject",
    [
        "subject = \"{{ site.title }}{{ '\\\\r\\\\n' }}Bcc: victim@example.org\"",
        "subject = \"{{ site.title }}{{ '\\\\n' }}\"",
        "subject = \"{{ articles[0].title }}{{ '\\\\r' }}\"",
    ],
)
def test_check_fails_on_a_subject_template_that_renders_a_line_break(
    site: Site, subject: str
) -> None:
    edit_config(site, DAILY_SUBJECT, subject)
    line = assert_check_fails_naming(site, "daily", "has a line break")
    assert "digests.daily.subject" in line
    create = run(site, "publish", "--digest")
    assert create.returncode == 1  # what check foretold
    assert "has a line break" in create.stderr


def test_check_fails_on_a_subject_naming_what_the_articles_lack(site: Site) -> None:
    edit_config(site, DAILY_SUBJECT, 'subject = "{{ articles[0].headline }}"')
    assert_check_fails_naming(site, "daily", "digests.daily.subject")


def test_check_fails_on_a_missing_template(site: Site) -> None:
    templates = site.root / "templates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_text('{% include "footer.txt.j2" %}\n')
    with site.config_path.open("a") as config:
        config.write('\n[templates]\ndir = "templates"\n')
    line = assert_check_fails_naming(site, "daily", "footer.txt.j2")
    assert "culture" not in line


def test_check_fails_on_a_template_error_naming_its_file_and_line(site: Site) -> None:
    templates = site.root / "templates"
    templates.mkdir()
    (templates / "digest.txt.j2").write_text("Hello\n{{ no_such_value }}\n")
    with site.config_path.open("a") as config:
        config.write('\n[templates]\ndir = "templates"\n')
    line = assert_check_fails_naming(site, "culture", "no_such_value")
    assert "digest.txt.j2:2" in line


def test_check_passes_the_sample_site_and_writes_nothing(site: Site) -> None:
    before = files_of(site)
    result = run(site, "check")
    assert result.returncode == 0, result.stderr
    assert "16 articles, 0 errors" in result.stdout
    assert files_of(site) == before


def test_every_sample_digest_renders_with_the_articles_public_now(site: Site) -> None:
    config = site.config()
    articles, errors = check_content(config)
    assert errors == []
    assert digest_problems(config, articles, SAMPLE_NOW) == []


def test_digests_are_rendered_with_their_own_newest_public_articles(site: Site) -> None:
    config = site.config()
    articles, _ = check_content(config)
    public = public_now(config, articles, SAMPLE_NOW)
    assert len(public) == 14  # no draft, nothing scheduled for later
    assert [p.sequence for p in public] == list(range(1, 15))
    culture = sample_articles(config.digest("culture"), public)
    assert culture
    assert all(any(c.slug == "culture" for c in p.article.categories) for p in culture)
    daily = sample_articles(config.digest("daily"), public)
    assert daily == public[-config.digest("daily").max_articles :]
