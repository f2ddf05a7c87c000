"""Image sizes for email: from the real file, fitted to the column, never fetched from elsewhere."""

from __future__ import annotations

from pathlib import Path

import lxml.html
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from publisher.content.imagesize import (
    COLUMN_WIDTH,
    DisplaySize,
    ImageSizes,
    fitted,
    local_file,
    sized_images,
)
from publisher.mail.render import EditionInfo, render_edition, template_environment
from publisher.site.gather import gather
from publisher.store.articles import public_articles
from publisher.store.database import Store
from tests.conftest import SAMPLE_NOW, MigratedTemplates, MovableClock, Site

MEDIA = "https://gazette.example.org/media/"


def write_image(path: Path, width: int, height: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (200, 100, 50)).save(path)
    return path


def test_a_wide_file_is_shrunk_to_the_column_keeping_its_proportions() -> None:
    assert fitted(640, 360, COLUMN_WIDTH) == DisplaySize(536, 302, high_density=False)


def test_a_file_twice_the_column_is_its_own_high_density_source() -> None:
    assert fitted(1072, 603, COLUMN_WIDTH) == DisplaySize(536, 302, high_density=True)


def test_a_narrow_file_is_never_enlarged() -> None:
    assert fitted(300, 200, COLUMN_WIDTH) == DisplaySize(300, 200, high_density=False)


def test_a_box_limits_the_height_too() -> None:
    assert fitted(636, 120, 318, 80) == DisplaySize(318, 60, high_density=True)
    assert fitted(512, 512, 318, 80) == DisplaySize(80, 80, high_density=True)


def test_an_image_without_area_is_refused() -> None:
    with pytest.raises(ValueError, match="0x10"):
        fitted(0, 10, COLUMN_WIDTH)


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(16, 1200))
def test_fitted_sizes_fit_and_keep_the_aspect_ratio(width: int, height: int, box: int) -> None:
    size = fitted(width, height, box)
    assert size.height is not None
    assert size.width <= max(box, 1)
    assert size.width <= width
    # Rounding each side to whole pixels (and at least one) moves the height by a pixel or so.
    assert abs(size.height - height * size.width / width) <= 1 + height / (2 * width)


def test_media_urls_name_content_files_and_nothing_outside(tmp_path: Path) -> None:
    content = tmp_path / "content"
    photo = write_image(content / "images" / "a b.png", 10, 10)
    write_image(tmp_path / "secret.png", 10, 10)
    assert local_file(f"{MEDIA}images/a%20b.png", MEDIA, content) == photo.resolve()
    assert local_file(f"{MEDIA}images/a%20b.png?v=2", MEDIA, content) == photo.resolve()
    assert local_file(f"{MEDIA}../secret.png", MEDIA, content) is None
    assert local_file(f"{MEDIA}%2e%2e/secret.png", MEDIA, content) is None
    assert local_file(f"{MEDIA}images/missing.png", MEDIA, content) is None
    assert local_file("https://elsewhere.example/images/a%20b.png", MEDIA, content) is None


def test_sizes_come_from_the_file_and_other_urls_get_a_width_only(tmp_path: Path) -> None:
    content = tmp_path / "content"
    write_image(content / "tall.png", 400, 800)
    (content / "broken.png").write_bytes(b"not an image")
    sizes = ImageSizes(MEDIA, content)
    assert sizes.display_size(f"{MEDIA}tall.png") == DisplaySize(400, 800)
    assert sizes.display_size(f"{MEDIA}tall.png", 200) == DisplaySize(200, 400, True)
    assert sizes.display_size(f"{MEDIA}broken.png") == DisplaySize(COLUMN_WIDTH, None)
    assert sizes.display_size("https://upstream.example/photo.jpg") == DisplaySize(536, None)


def test_body_images_from_the_content_folder_get_their_size_and_others_keep_theirs() -> None:
    sizes = {f"{MEDIA}chart.png": DisplaySize(536, 268, True)}

    def display_size(url: str) -> DisplaySize:
        return sizes.get(url, DisplaySize(COLUMN_WIDTH, None))

    body = (
        'Intro &amp; <b>more</b><p><img src="https://gazette.example.org/media/chart.png" '
        'alt="A chart" width="9999"> then</p>'
        '<p><img src="https://upstream.example/x.png" alt="Elsewhere"></p>'
    )
    assert sized_images(body, display_size) == (
        'Intro &amp; <b>more</b><p><img src="https://gazette.example.org/media/chart.png" '
        'alt="A chart" width="536" height="268"> then</p>'
        '<p><img src="https://upstream.example/x.png" alt="Elsewhere"></p>'
    )
    assert sized_images("<p>No images &lt;here&gt;</p>", display_size) == (
        "<p>No images &lt;here&gt;</p>"
    )


@pytest.fixture
def store_url(tmp_path: Path, migrated_templates: MigratedTemplates) -> str:
    return migrated_templates.sqlite_copy(tmp_path / "store.db")


def test_an_each_digest_sizes_the_images_in_article_bodies(
    site: Site, store: Store, clock: MovableClock
) -> None:
    write_image(site.content / "images" / "tall.png", 1200, 1600)
    site.write_article(
        "news/pictures.md",
        '---\ntitle: "Pictures"\ndate: 2026-11-25T11:00:00Z\n---\n\n'
        "![A tall one](../images/tall.png)\n\n![Elsewhere](https://upstream.example/x.png)\n",
    )
    config = site.config()
    gather(store, config, clock)
    with store.transaction() as connection:
        (article,) = [p for p in public_articles(connection) if p.article.slug == "pictures"]
    digest = config.digest("daily").model_copy(update={"mode": "each"})
    edition = EditionInfo(1, SAMPLE_NOW, f"{config.archive_url}daily/1.html")
    rendered = render_edition(template_environment(None), config, digest, edition, [article])
    root = lxml.html.document_fromstring(rendered.html)
    (tall,) = root.xpath("//div[@class='article-body']//img[@alt='A tall one']")
    (elsewhere,) = root.xpath("//div[@class='article-body']//img[@alt='Elsewhere']")
    assert (tall.get("width"), tall.get("height")) == ("536", "715")
    assert "height:auto" in tall.get("style")
    assert elsewhere.get("width") is None
    assert elsewhere.get("height") is None
    assert "max-width:100%" in elsewhere.get("style")


def test_images_from_elsewhere_get_a_width_only_and_keep_their_own_proportions(
    site: Site, store: Store, clock: MovableClock
) -> None:
    site.write_article(
        "news/elsewhere.md",
        '---\ntitle: "Elsewhere"\ndate: 2026-11-25T11:00:00Z\n'
        "image: https://upstream.example/photo.jpg\n---\n\nA story.\n",
    )
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(
        text.replace('logo = "images/logo.png"', 'logo = "https://cdn.example/logo.png"'),
        encoding="utf-8",
    )
    config = site.config()
    gather(store, config, clock)
    with store.transaction() as connection:
        (article,) = [p for p in public_articles(connection) if p.article.slug == "elsewhere"]
    edition = EditionInfo(1, SAMPLE_NOW, f"{config.archive_url}daily/1.html")
    rendered = render_edition(
        template_environment(None), config, config.digest("daily"), edition, [article]
    )
    root = lxml.html.document_fromstring(rendered.html)
    (hero,) = root.xpath("//img[@class='hero']")
    (logo,) = root.xpath("//img[@class='logo']")
    assert hero.get("src") == "https://upstream.example/photo.jpg"
    assert (hero.get("width"), hero.get("height")) == ("536", None)
    assert (logo.get("width"), logo.get("height")) == ("318", None)
    for image in (hero, logo):
        assert "height:auto" in image.get("style")
        assert "max-width:100%" in image.get("style")


def test_without_a_logo_the_masthead_shows_the_title_as_text(
    site: Site, store: Store, clock: MovableClock
) -> None:
    text = site.config_path.read_text(encoding="utf-8")
    site.config_path.write_text(text.replace('logo = "images/logo.png"\n', ""), encoding="utf-8")
    config = site.config()
    gather(store, config, clock)
    with store.transaction() as connection:
        articles = public_articles(connection)[:2]
    edition = EditionInfo(1, SAMPLE_NOW, f"{config.archive_url}daily/1.html")
    rendered = render_edition(
        template_environment(None), config, config.digest("daily"), edition, articles
    )
    root = lxml.html.document_fromstring(rendered.html)
    assert root.xpath("//img[@class='logo']") == []
    assert root.xpath("//h1[@class='site-title']/a/text()") == ["The Harbour Gazette"]
