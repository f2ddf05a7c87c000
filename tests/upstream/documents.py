"""Upstream feed documents in every format the sources read, as real sites publish them."""

from __future__ import annotations

import json

WORDPRESS_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"
  xmlns:content="http://purl.org/rss/1.0/modules/content/"
  xmlns:dc="http://purl.org/dc/elements/1.1/"
  xmlns:atom="http://www.w3.org/2005/Atom">
<channel>
  <title>Alder Rowing Club</title>
  <atom:link href="https://rowing.example.net/feed/" rel="self" type="application/rss+xml" />
  <link>https://rowing.example.net/</link>
  <description>News from the boathouse</description>
  <generator>https://wordpress.org/?v=6.4.2</generator>
  <item>
    <title>Regatta results &#8211; autumn head</title>
    <link>https://rowing.example.net/2026/11/regatta-results/</link>
    <dc:creator><![CDATA[Mara Quill]]></dc:creator>
    <pubDate>Tue, 24 Nov 2026 18:30:00 +0000</pubDate>
    <category><![CDATA[Racing]]></category>
    <guid isPermaLink="false">https://rowing.example.net/?p=412</guid>
    <description><![CDATA[Our eight came second in the autumn head. [&#8230;]]]></description>
    <content:encoded><![CDATA[<p>Our eight came <strong>second</strong>.</p>
<p><img src="/wp-content/uploads/eight.jpg" alt="The eight"></p>
<p><a href="../results/">Full results</a></p>]]></content:encoded>
  </item>
  <item>
    <title>Winter training starts</title>
    <link>https://rowing.example.net/2026/11/winter-training/</link>
    <dc:creator><![CDATA[Jon Teal]]></dc:creator>
    <pubDate>Mon, 23 Nov 2026 08:00:00 +0000</pubDate>
    <guid isPermaLink="false">https://rowing.example.net/?p=409</guid>
    <description><![CDATA[Ergs every Tuesday.]]></description>
    <content:encoded><![CDATA[<p>Ergs every Tuesday.</p>]]></content:encoded>
  </item>
</channel>
</rss>
"""

RSS_1 = b"""<?xml version="1.0" encoding="utf-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
  xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel rdf:about="https://birds.example.net/">
    <title>Estuary Bird Log</title>
    <link>https://birds.example.net/</link>
    <description>Sightings</description>
    <items><rdf:Seq><rdf:li rdf:resource="https://birds.example.net/log/avocets"/></rdf:Seq></items>
  </channel>
  <item rdf:about="https://birds.example.net/log/avocets">
    <title>Avocets on the mudflats</title>
    <link>https://birds.example.net/log/avocets</link>
    <description>Forty avocets at low tide.</description>
    <dc:date>2026-11-22T07:15:00Z</dc:date>
    <dc:creator>Ivy Sparrow</dc:creator>
  </item>
</rdf:RDF>
"""

ATOM_WITH_BASE = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://lifeboat.example.net/news/">
  <title>Port Alder Lifeboat</title>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>
  <link href="https://lifeboat.example.net/"/>
  <updated>2026-11-21T10:00:00Z</updated>
  <author><name>Lifeboat crew</name></author>
  <entry>
    <title type="html">Shout: &lt;em&gt;yacht&lt;/em&gt; aground</title>
    <id>urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a</id>
    <link href="2026/shout-yacht"/>
    <published>2026-11-21T09:00:00Z</published>
    <updated>2026-11-21T10:00:00Z</updated>
    <author><name>Coxswain Bell</name></author>
    <content type="html" xml:base="https://lifeboat.example.net/news/2026/">
      &lt;p&gt;See &lt;a href="photos/"&gt;the photos&lt;/a&gt; and
      &lt;img src="/img/boat.jpg" alt="boat"&gt;&lt;/p&gt;
    </content>
  </entry>
</feed>
"""

JSON_FEED_11 = json.dumps(
    {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Tide Tables",
        "home_page_url": "https://tides.example.net/",
        "authors": [{"name": "Harbour Master"}],
        "items": [
            {
                "id": "tides-2026-11-20",
                "url": "/2026/11/20/",
                "title": "Spring tides this week",
                "content_html": '<p>High water 6.1&#8201;m. <a href="/tables/">Tables</a></p>',
                "date_published": "2026-11-20T06:00:00Z",
                "tags": ["tides"],
            },
            {"id": 42, "content_text": "Neap tides next week.\n\nCalm seas.", "title": "Neaps"},
        ],
    }
).encode()

NO_DATES_RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Undated</title><link>https://undated.example.net/</link>
<description>x</description>
<item><title>First undated</title><link>https://undated.example.net/1</link><guid>u-1</guid>
<description>one</description></item>
</channel></rss>
"""

NO_GUIDS_RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>No GUIDs</title><link>https://noguid.example.net/</link>
<description>x</description>
<item><title>Alpha</title><link>https://noguid.example.net/alpha</link>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>a</description></item>
<item><title>Beta</title><link>https://noguid.example.net/beta</link>
<pubDate>Tue, 24 Nov 2026 11:00:00 GMT</pubDate><description>b</description></item>
</channel></rss>
"""

# ISO-8859-1 bytes with no encoding in the XML declaration: only the HTTP header says so.
LATIN1_RSS = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>Caf\u00e9 Cr\u00e8me</title><link>https://cafe.example.net/</link>
<description>x</description>
<item><title>Cr\u00e8me br\u00fbl\u00e9e \u00e0 volont\u00e9</title><link>https://cafe.example.net/1</link>
<guid>cafe-1</guid><pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>
<description>Na\u00efve \u00a3 prices</description></item>
</channel></rss>
""".encode("iso-8859-1")

# An unescaped ampersand and an unclosed element: feedparser's loose parser still finds the item.
MALFORMED_RSS = b"""<?xml version="1.0"?>
<rss version="2.0"><channel><title>Broken & proud</title><link>https://broken.example.net/</link>
<description>x</description>
<item><title>Still readable</title><link>https://broken.example.net/1</link><guid>b-1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate><description>yes <b>bold</description></item>
</channel>
"""

HOSTILE_RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Hostile</title><link>https://hostile.example.net/</link><description>x</description>
<item>
<title><![CDATA[<script>alert(1)</script> ]]]]><![CDATA[> &amp; co\x01n\x0btrol]]></title>
<link>javascript:alert(1)</link>
<guid>h-1</guid>
<pubDate>Tue, 24 Nov 2026 10:00:00 GMT</pubDate>
<description><![CDATA[</p><img src=x onerror=alert(1)> ]]]]><![CDATA[> &lt;]]></description>
<content:encoded><![CDATA[<script>alert(1)</script><p onclick="alert(2)">Hi
<a href="javascript:alert(3)">js</a> <a href=" JaVaScRiPt:alert(4)">js2</a>
<img src="x" onerror="alert(5)"><iframe src="https://evil.example"></iframe>
<svg onload="alert(6)"></svg> ]]]]><![CDATA[> &#12; bell\x07</p>]]></content:encoded>
</item>
</channel></rss>
"""


def rss_with_items(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """A small RSS 2.0 feed: (guid, title, pubDate) per item."""
    entries = "".join(
        f"<item><title>{item_title}</title><link>https://x.example.net/{guid}</link>"
        f"<guid>{guid}</guid><pubDate>{date}</pubDate>"
        f"<description>About {item_title}</description></item>"
        for guid, item_title, date in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://x.example.net/</link><description>d</description>{entries}"
        "</channel></rss>"
    ).encode()
