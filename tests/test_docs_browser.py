"""The documentation site in a real browser: Debian's Chromium, headless, driven through chromedriver with selenium, over HTTP
on a local port. Every page loads, every image on it is decoded (naturalWidth > 0), every internal link (and its #fragment)
resolves, and nothing is fetched from the network; a screenshot of the front page is saved. Skipped, with the reason, where
/usr/bin/chromium or /usr/bin/chromedriver is absent (.ci/run installs both with apt-get)."""
import functools, http.server, os, threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM, DRIVER = Path('/usr/bin/chromium'), Path('/usr/bin/chromedriver')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1280,900']

pytestmark = pytest.mark.skipif(not (CHROMIUM.exists() and DRIVER.exists()),
                                reason='Debian chromium / chromium-driver not installed (apt-get install chromium chromium-driver; .ci/run does)')

class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

@pytest.fixture(scope='module')
def served(docs_site):
    "The built site over HTTP on a free local port."
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(Quiet, directory=str(docs_site)))
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}/'
    srv.shutdown(); srv.server_close()

@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    webdriver = pytest.importorskip('selenium.webdriver', reason='selenium not installed (it is in the dev extra)')
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault('SE_OFFLINE', 'true')                  # never let Selenium Manager look for a driver on the network
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for f in FLAGS + [f'--user-data-dir={tmp_path_factory.mktemp("chromium-profile")}']: opts.add_argument(f)
    opts.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
    d = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()

PAGE_STATE = """
const nav = performance.getEntriesByType('navigation')[0];
return {status: nav ? nav.responseStatus : null, ready: document.readyState, title: document.title,
        nav: !!document.querySelector('nav.dg-nav'), text: document.body.innerText.length,
        images: Array.from(document.images).map(i => [i.getAttribute('src').slice(0, 80), i.complete, i.naturalWidth]),
        links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
        resources: performance.getEntriesByType('resource').map(r => r.name)};
"""

CHECK_LINKS = """
const [urls, done] = [arguments[0], arguments[arguments.length - 1]];
const cache = {};
Promise.all(urls.map(async u => {
  const [base, frag] = u.split('#');
  cache[base] = cache[base] || fetch(base).then(async r => [r.status, r.ok ? await r.text() : '']);
  const [status, text] = await cache[base];
  if (status !== 200) return [u, 'HTTP ' + status];
  if (!frag || !base.endsWith('.html')) return null;
  const doc = new DOMParser().parseFromString(text, 'text/html');
  return (doc.getElementById(frag) || doc.getElementById(decodeURIComponent(frag))) ? null : [u, 'no element with that id'];
})).then(r => done(r.filter(x => x)), e => done([['error', String(e)]]));
"""

def test_every_page_image_and_link_in_chromium(docs_site, served, browser, tmp_path):
    import json
    pages = json.loads((docs_site / 'site.json').read_text())['pages']
    assert len(pages) > 30
    links, problems = set(), []
    for p in pages:
        browser.get(served + p)
        s = browser.execute_script(PAGE_STATE)
        if s['status'] != 200 or s['ready'] != 'complete' or not s['title'] or not s['nav'] or s['text'] < 200:
            problems.append(f"{p}: status {s['status']}, {s['ready']}, title {s['title']!r}, nav {s['nav']}, {s['text']} characters")
        problems += [f'{p}: image {src} not loaded (complete {c}, naturalWidth {w})' for src, c, w in s['images'] if not (c and w > 0)]
        problems += [f'{p}: fetched {r} from outside the site' for r in s['resources'] if not r.startswith(served) and not r.startswith('data:')]
        links |= {u for u in s['links'] if u.startswith(served)}
        problems += [f"{p}: console {e['level']}: {e['message'][:200]}" for e in browser.get_log('browser') if e['level'] == 'SEVERE']
    assert not problems, '\n'.join(problems[:30])
    assert len(links) > len(pages)
    browser.set_script_timeout(120)
    bad = browser.execute_async_script(CHECK_LINKS, sorted(links))
    assert not bad, bad[:30]

def test_front_page_screenshot(served, browser, tmp_path_factory):
    "Saved as a test artefact: <pytest tmp>/screenshots/front.png (printed); it must show more than a blank page."
    from PIL import Image, ImageStat
    browser.get(served + 'index.html')
    shot = tmp_path_factory.mktemp('screenshots') / 'front.png'
    assert browser.save_screenshot(str(shot))
    print(f'front page screenshot: {shot}')
    with Image.open(shot) as im:
        assert im.format == 'PNG' and im.size[0] >= 1000 and im.size[1] >= 600
        sd = ImageStat.Stat(im.convert('L')).stddev[0]
        colours = len(im.convert('RGB').getcolors(1 << 20) or [])
    assert sd > 20 and colours > 500, f'the screenshot looks blank (sd {sd:.1f}, {colours} colours)'   # text, the sidebar and the demo overlay
    h1 = browser.find_element('css selector', 'h1').text
    assert h1 == 'dynaguide'
    assert browser.find_element('css selector', 'nav.dg-nav a.current').text == 'Home (README)'
