// Osprey's dashboard: every feed as a card with a thumbnail (one JPEG a second from /snapshot/{feed}.jpg?max-age=1,
// which the server takes once for all viewers), its state in words, a few numbers (each explained on hover) and a
// small live chart (uPlot); a click opens /watch/{feed}. Sources are added, edited and removed through
// /api/sources; vw's streams and destinations have their own section; the login form shows when the server
// asks for one. With one feed (the first run: the test pattern or the camera) it also plays that feed live above its
// card in <osprey-player>, in the best protocol the browser has; with more, the thumbnails are the only pictures, so
// a grid of many feeds stays cheap.

// Links to the old page (/?view=feed:view, /?renderer=2d) still work: they open the developer page.
const query = new URLSearchParams(location.search);
if (query.has('view') || query.has('renderer') || query.has('catchup')) location.replace(`/feeds.html${location.search}${location.hash}`);

const REFRESH_MS = 2000;
const THUMB_MS = 1000;
const CHART_POINTS = 60; // two minutes at REFRESH_MS

const STATES = {
  running: ['live', 'ok', 'The source is producing frames.'],
  starting: ['starting', 'warn', 'The source has not produced its first frame yet.'],
  waiting: ['waiting', 'warn', 'Waiting for the device or a publisher to appear.'],
  restarting: ['restarting', 'error', 'The source failed; it is restarted after a backoff, viewers stay connected.'],
  stopped: ['stopped', 'muted', 'The feed is shut down.'],
};

const $ = (id) => document.getElementById(id);
const feedPath = (name) => name.split('/').map(encodeURIComponent).join('/');
const el = (tag, className, text) => {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
};
const safeId = (name) => name.replace(/[^A-Za-z0-9_-]/g, '_');

/** State for tests and the curious: window.osprey.dashboard. */
const dash = {
  feeds: [],
  sources: [],
  thumbs: {}, // feed -> thumbnails shown so far
  featured: null, // the feed playing live above the grid (only when it is the one feed), or null
  me: null,
  mayRead: null, // false until a login when the server lets nobody read without one
  errors: [],
};
window.osprey = { ...(window.osprey || {}), dashboard: dash };

async function api(path, options = {}) {
  const init = { cache: 'no-store', ...options, headers: { ...(options.body ? { 'Content-Type': 'application/json' } : {}), ...(options.headers || {}) } };
  const r = await fetch(path, init);
  if (r.status === 401) {
    showLogin(true);
    throw new Error('log in to continue');
  }
  if (!r.ok) {
    let title = `${r.status} ${r.statusText}`;
    try {
      const body = await r.json();
      title = body.title || body.error || title;
    } catch {
      // not JSON
    }
    throw new Error(title);
  }
  return r.status === 204 ? null : r.json();
}

// --------------------------------------------------------------------------------------------------------------
// Login
// --------------------------------------------------------------------------------------------------------------

function showLogin(show) {
  $('login').hidden = !show;
  if (show) $('login-user').focus();
}

async function loadMe() {
  try {
    const me = await api('/api/auth/me');
    dash.me = me;
    $('who').textContent = me.anonymous ? (me.open ? '' : 'not logged in') : `logged in as ${me.user}`;
    $('login-open').hidden = !me.anonymous || me.open;
    $('logout').hidden = me.anonymous;
    // Nobody may read without logging in: ask now, rather than let /api/feeds answer 401 (whose Basic challenge
    // would make the browser open its own login dialog).
    dash.mayRead = me.open || (me.permissions || []).some((p) => String(p.actions).includes('read'));
    showLogin(!dash.mayRead);
  } catch {
    // an older server without /api/auth: no login
  }
}

$('login-open').onclick = () => showLogin(true);
$('logout').onclick = async () => {
  await fetch('/api/auth/logout', { method: 'POST' });
  location.reload();
};
$('login').onsubmit = async (e) => {
  e.preventDefault();
  $('login-error').textContent = '';
  try {
    const r = await fetch('/api/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: $('login-user').value, password: $('login-password').value }),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.title || `${r.status}`);
    }
    $('login-password').value = '';
    showLogin(false);
    await loadMe();
    await refresh();
  } catch (err) {
    $('login-error').textContent = err.message;
  }
};

// --------------------------------------------------------------------------------------------------------------
// Sources: add, edit, remove
// --------------------------------------------------------------------------------------------------------------

let editing = null; // the name being edited, or null when adding

function openSourceForm(name = null, uri = '') {
  editing = name;
  $('source-form-title').textContent = name ? `Edit '${name}'` : 'Add a source';
  $('source-name').value = name ?? '';
  $('source-name').disabled = name !== null;
  $('source-uri').value = uri;
  $('source-error').textContent = '';
  $('source-form').hidden = false;
  (name ? $('source-uri') : $('source-name')).focus();
}

$('add-open').onclick = () => openSourceForm();
$('source-cancel').onclick = () => ($('source-form').hidden = true);
$('source-form').onsubmit = async (e) => {
  e.preventDefault();
  $('source-error').textContent = '';
  const name = editing ?? $('source-name').value.trim();
  const uri = $('source-uri').value.trim();
  try {
    if (editing) await api(`/api/sources/${feedPath(name)}`, { method: 'PUT', body: JSON.stringify({ uri }) });
    else await api('/api/sources', { method: 'POST', body: JSON.stringify({ name, uri }) });
    $('source-form').hidden = true;
    await refresh();
  } catch (err) {
    $('source-error').textContent = err.message;
  }
};

async function removeSource(name) {
  if (!confirm(`Remove the source '${name}'? Its viewers are disconnected${sourceOf(name)?.persisted ? ' and it is deleted from the config file' : ''}.`)) return;
  try {
    await api(`/api/sources/${feedPath(name)}`, { method: 'DELETE' });
    await refresh();
  } catch (err) {
    setStatus(`could not remove '${name}': ${err.message}`, true);
  }
}

async function restartSource(name) {
  try {
    await api(`/api/feeds/${feedPath(name)}/restart`, { method: 'POST' });
    await refresh();
  } catch (err) {
    setStatus(`could not restart '${name}': ${err.message}`, true);
  }
}

const sourceOf = (name) => dash.sources.find((s) => s.name === name);

// --------------------------------------------------------------------------------------------------------------
// Cards
// --------------------------------------------------------------------------------------------------------------

const cards = new Map(); // name -> card

function fmtRate(bitsPerSecond) {
  if (!(bitsPerSecond > 0)) return '0';
  if (bitsPerSecond >= 1e8) return `${Math.round(bitsPerSecond / 1e6)} Mbit/s`;
  if (bitsPerSecond >= 1e6) return `${(bitsPerSecond / 1e6).toFixed(1)} Mbit/s`;
  return `${Math.round(bitsPerSecond / 1e3)} kbit/s`;
}

class Card {
  constructor(feed) {
    this.name = feed.name;
    this.history = [[], [], [], [], []]; // time, fps, Mbit/s, viewers, drops/s
    this.last = null;
    this.thumbBusy = false;
    this.thumbUrl = null;

    const root = (this.root = el('article', 'feed-card'));
    root.dataset.feed = feed.name;
    root.id = `card-${safeId(feed.name)}`;
    const watch = `/watch/${feedPath(feed.name)}`;

    this.thumbLink = el('a', 'thumb');
    this.thumbLink.href = watch;
    this.thumbLink.title = `Watch ${feed.name}`;
    this.img = el('img');
    this.img.alt = `${feed.name}, a picture a second`;
    this.img.className = 'thumb-img';
    this.placeholder = el('span', 'thumb-none');
    this.thumbLink.append(this.img, this.placeholder);

    const head = el('div', 'card-head');
    const title = el('a', 'name', feed.name);
    title.href = watch;
    this.state = el('span', 'state');
    head.append(title, this.state);

    this.detail = el('p', 'detail muted');
    this.why = el('p', 'why error');

    this.numbers = el('dl', 'numbers');
    this.values = {};
    for (const [key, label, help] of [
      ['fps', 'fps', 'Frames a second the source delivered over the last seconds (measured by the server), and the rate it was asked for.'],
      ['bitrate', 'bitrate', 'Data rate of the feed as the source delivers it (all formats before any view), over the last refresh.'],
      ['viewers', 'viewers', 'Clients reading the feed now: players, MJPEG, snapshots in flight, relays.'],
      ['drops', 'drops', 'Frames lost: dropped by the source side (a slow reader or a full queue) plus frames skipped for viewers too slow to keep up, since start.'],
    ]) {
      const wrap = el('div');
      wrap.title = help;
      const dt = el('dt', '', label);
      const dd = el('dd', '', '–');
      dd.dataset.key = key;
      wrap.append(dt, dd);
      this.numbers.append(wrap);
      this.values[key] = dd;
    }

    this.chartBox = el('div', 'chart');
    this.chartBox.title = 'The last two minutes: fps (green), Mbit/s (blue), viewers (orange), drops a second (red)';

    const actions = el('div', 'actions');
    const watchLink = el('a', 'button', 'watch');
    watchLink.href = watch;
    this.editButton = el('button', '', 'edit');
    this.editButton.type = 'button';
    this.editButton.title = 'Change where this feed comes from';
    this.editButton.onclick = () => openSourceForm(this.name, sourceOf(this.name)?.uri ?? this.feed.source ?? '');
    this.removeButton = el('button', '', 'remove');
    this.removeButton.type = 'button';
    this.removeButton.title = 'Remove this source';
    this.removeButton.onclick = () => removeSource(this.name);
    this.restartButton = el('button', '', 'restart');
    this.restartButton.type = 'button';
    this.restartButton.title = "Restart the feed's source now";
    this.restartButton.onclick = () => restartSource(this.name);
    actions.append(watchLink, this.restartButton, this.editButton, this.removeButton);

    root.append(this.thumbLink, head, this.detail, this.why, this.numbers, this.chartBox, actions);
    this.update(feed);
  }

  update(feed) {
    this.feed = feed;
    const [word, cls, help] = STATES[feed.state] ?? [feed.state, 'warn', ''];
    this.state.textContent = word;
    this.state.className = `state ${cls}`;
    this.state.title = feed.stateDetail ? `${help} ${feed.stateDetail}` : help;
    this.root.dataset.state = feed.state;
    this.why.textContent = feed.state !== 'running' && feed.stateDetail ? feed.stateDetail : '';
    const size = feed.width > 0 ? `${feed.width}×${feed.height}` : 'size not known yet';
    this.detail.textContent = `${feed.format} · ${size}${feed.source ? ' · ' + feed.source : ''}`;
    this.detail.title = `format ${feed.format}; source ${feed.source ?? '(a publisher)'}; ${feed.origin === 'flag' ? 'from a --source flag' : feed.origin === 'config' ? 'from the config file' : feed.origin === 'api' ? 'from the sources API' : 'made by a publisher'}`;

    const source = sourceOf(feed.name);
    const changeable = source && (source.origin === 'config' || source.origin === 'api');
    this.editButton.hidden = !changeable;
    this.removeButton.hidden = !changeable;
    this.restartButton.hidden = feed.origin === 'publisher';

    const now = performance.now();
    const drops = (feed.drops ?? 0) + (feed.viewersDropped ?? 0);
    let bits = 0;
    let dropsPerSecond = 0;
    if (this.last) {
      const dt = (now - this.last.t) / 1000;
      if (dt > 0) {
        bits = (Math.max(0, feed.bytes - this.last.bytes) * 8) / dt;
        dropsPerSecond = Math.max(0, drops - this.last.drops) / dt;
      }
    }
    this.last = { t: now, bytes: feed.bytes, drops };
    this.values.fps.textContent = `${(feed.measuredFps ?? 0).toFixed(1)}${feed.fps ? ' / ' + feed.fps : ''}`;
    this.values.bitrate.textContent = fmtRate(bits);
    this.values.viewers.textContent = String(feed.viewers ?? 0);
    this.values.drops.textContent = String(drops);

    const h = this.history;
    h[0].push(Date.now() / 1000);
    h[1].push(feed.measuredFps ?? 0);
    h[2].push(bits / 1e6);
    h[3].push(feed.viewers ?? 0);
    h[4].push(dropsPerSecond);
    if (h[0].length > CHART_POINTS) for (const s of h) s.shift();
    this.drawChart();

    const hasThumb = !!feed.endpoints?.snapshot;
    this.img.hidden = !hasThumb || !this.thumbUrl;
    this.placeholder.hidden = hasThumb && !!this.thumbUrl;
    this.placeholder.textContent = hasThumb
      ? 'waiting for a picture…'
      : feed.format === 'h264'
        ? 'H.264: no thumbnail (the server has no H.264 decoder); watch to see it'
        : `${feed.format}: no thumbnail`;
  }

  drawChart() {
    if (typeof window.uPlot !== 'function') return;
    const width = Math.max(120, this.chartBox.clientWidth || 240);
    if (!this.chart) {
      const stroke = (c) => ({ stroke: c, width: 1.5, points: { show: false } });
      this.chart = new window.uPlot({
        width,
        height: 70,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: true }, n: { range: (u, min, max) => [0, Math.max(1, max)] }, m: { range: (u, min, max) => [0, Math.max(0.1, max)] } },
        axes: [{ show: false }, { scale: 'n', size: 28, font: '10px system-ui', stroke: '#888', grid: { stroke: 'rgba(128,128,128,.15)' } }, { scale: 'm', side: 1, size: 30, font: '10px system-ui', stroke: '#888', grid: { show: false } }],
        series: [{}, { label: 'fps', scale: 'n', ...stroke('#16a34a') }, { label: 'Mbit/s', scale: 'm', ...stroke('#2563eb') }, { label: 'viewers', scale: 'n', ...stroke('#ea580c') }, { label: 'drops/s', scale: 'n', ...stroke('#dc2626') }],
      }, this.history, this.chartBox);
    } else {
      if (Math.abs(this.chart.width - width) > 4) this.chart.setSize({ width, height: 70 });
      this.chart.setData(this.history);
    }
  }

  /** Fetches the next thumbnail (one in flight at most); the server answers from its cache within a second. */
  async refreshThumb() {
    if (this.thumbBusy || !this.feed.endpoints?.snapshot || this.feed.state !== 'running') return;
    this.thumbBusy = true;
    try {
      const r = await fetch(`/snapshot/${feedPath(this.name)}.jpg?max-age=1`, { cache: 'no-store' });
      if (!r.ok) return;
      const blob = await r.blob();
      const url = URL.createObjectURL(blob);
      await new Promise((resolve) => {
        this.img.onload = resolve;
        this.img.onerror = resolve;
        this.img.src = url;
      });
      if (this.thumbUrl) URL.revokeObjectURL(this.thumbUrl);
      this.thumbUrl = url;
      this.img.hidden = false;
      this.placeholder.hidden = true;
      dash.thumbs[this.name] = (dash.thumbs[this.name] ?? 0) + 1;
    } catch {
      // the next second tries again
    } finally {
      this.thumbBusy = false;
    }
  }

  remove() {
    this.chart?.destroy();
    if (this.thumbUrl) URL.revokeObjectURL(this.thumbUrl);
    this.root.remove();
  }
}

/** One feed: play it live above the grid (the first run shows video, not a picture a second); more: none. */
function updateFeatured(feeds) {
  const only = feeds.length === 1 && feeds[0].state !== 'stopped' ? feeds[0].name : null;
  if (only === dash.featured) return;
  const box = $('featured-box');
  box.replaceChildren();
  dash.featured = only;
  $('featured').hidden = !only;
  if (!only) return;
  $('featured-title').textContent = only;
  $('featured-protocol').textContent = '';
  const player = document.createElement('osprey-player');
  player.setAttribute('src', only);
  player.setAttribute('stats', '');
  player.addEventListener('statechange', (e) => {
    $('featured-protocol').textContent = e.detail.status === 'live' ? `live over ${player.protocol}` : e.detail.text;
  });
  box.append(player);
}

function setStatus(text, isError = false) {
  $('status').textContent = text;
  $('status').className = isError ? 'error' : 'muted';
}

async function refresh() {
  if (dash.mayRead === false) return;
  try {
    const [feeds, sources] = await Promise.all([api('/api/feeds'), api('/api/sources').catch(() => [])]);
    dash.feeds = feeds;
    dash.sources = sources;
    const grid = $('grid');
    const names = new Set(feeds.map((f) => f.name));
    for (const [name, card] of cards) {
      if (!names.has(name)) {
        card.remove();
        cards.delete(name);
      }
    }
    for (const feed of feeds) {
      let card = cards.get(feed.name);
      if (!card) {
        card = new Card(feed);
        cards.set(feed.name, card);
        grid.append(card.root);
      } else card.update(feed);
    }
    $('no-feeds').hidden = feeds.length > 0;
    updateFeatured(feeds);
    setStatus('');
  } catch (err) {
    setStatus(`cannot load the feeds: ${err.message}`, true);
  }
}

// --------------------------------------------------------------------------------------------------------------
// Relay (vw): streams and destinations, for those who use them
// --------------------------------------------------------------------------------------------------------------

function cell(text, className = '', title = '') {
  const td = el('td', className, text ?? '–');
  if (title) td.title = title;
  return td;
}

async function refreshRelay() {
  try {
    const r = await fetch('/api/relay', { cache: 'no-store' });
    if (!r.ok) {
      $('relay').hidden = true;
      return;
    }
    const relay = await r.json();
    const streams = Array.isArray(relay?.streams) ? relay.streams : [];
    const destinations = Array.isArray(relay?.destinations) ? relay.destinations : [];
    $('relay').hidden = streams.length === 0 && destinations.length === 0;
    document.querySelector('#streams tbody').replaceChildren(...streams.map((s) => {
      const tr = el('tr');
      tr.dataset.stream = s.name;
      const play = el('td');
      const a = el('a', '', 'play (MPEG-TS)');
      a.href = `/feeds.html?view=${s.name}:ts`;
      play.append(a);
      tr.append(cell(s.name), cell(Array.isArray(s.feeds) ? s.feeds.join(', ') : '–'), cell(String(s.viewers ?? 0), 'num'), cell(String(s.bytes ?? 0), 'num'), play);
      return tr;
    }));
    $('streams').hidden = streams.length === 0;
    $('no-streams').hidden = streams.length > 0;
    document.querySelector('#destinations tbody').replaceChildren(...destinations.map((d) => {
      const tr = el('tr');
      tr.dataset.destination = d.id ?? '';
      tr.append(cell(d.id), cell(d.stream), cell(d.destination), cell(d.state, d.state === 'connected' ? 'ok' : 'warn'),
        cell(String(d.bytesSent ?? 0), 'num'), cell(String(d.drops ?? 0), 'num'), cell(String(d.reconnects ?? 0), 'num'),
        cell(d.lastError ?? '–', d.lastError ? 'error last-error' : 'muted', d.lastError ?? ''));
      return tr;
    }));
    $('destinations').hidden = destinations.length === 0;
    $('no-destinations').hidden = destinations.length > 0;
  } catch {
    $('relay').hidden = true;
  }
}

// --------------------------------------------------------------------------------------------------------------

async function main() {
  await loadMe();
  await refresh();
  if (dash.mayRead !== false) refreshRelay();
  setInterval(() => !document.hidden && refresh(), REFRESH_MS);
  setInterval(() => !document.hidden && dash.mayRead !== false && refreshRelay(), REFRESH_MS * 2);
  setInterval(() => {
    if (document.hidden) return;
    for (const card of cards.values()) card.refreshThumb();
  }, THUMB_MS);
  for (const card of cards.values()) card.refreshThumb();
}

main();
