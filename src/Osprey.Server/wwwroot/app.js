// Osprey page: lists the server's feeds and shows each one that can be shown,
// in the view picked per feed (raw canvas, JPEG over WebSocket, MJPEG <img>,
// H.264 through Media Source Extensions or WebCodecs).
import { el, feedPath, RawView, JpegView, MjpegView } from './players.js';
import { MseView, WebCodecsView, hasMse, hasWebCodecs } from './mp4player.js';

const REFRESH_MS = 2000;
const VIEW_LABELS = {
  raw: 'raw (canvas)',
  jpeg: 'JPEG over WebSocket',
  mjpeg: 'MJPEG <img>',
  mp4: 'H.264 (MSE)',
  webcodecs: 'H.264 (WebCodecs)',
};

const params = new URLSearchParams(location.search);

// ?renderer=2d forces the fallback, ?renderer=webgl forces WebGL (no fallback,
// so a test asking for WebGL cannot silently get 2D); anything else is auto.
// Only the raw view has a choice of renderer.
const rendererMode = (() => {
  const r = params.get('renderer');
  return r === '2d' || r === 'webgl' ? r : 'auto';
})();

// ?view=<feed>:<raw|jpeg|mjpeg|mp4|webcodecs>, repeatable or comma-separated, so a test can
// open a given view directly. Feed names never hold ':' or ',', but may hold
// '/', so the view is what follows the last ':'.
const viewChoices = new Map();
for (const value of params.getAll('view')) {
  for (const item of value.split(',')) {
    const i = item.lastIndexOf(':');
    if (i > 0 && item.slice(i + 1) in VIEW_LABELS) viewChoices.set(item.slice(0, i), item.slice(i + 1));
  }
}

/** Writes the view choices back to the URL, so a reload or a shared link shows the same views. */
function saveViewChoices() {
  const p = new URLSearchParams(location.search);
  p.delete('view');
  if (viewChoices.size) p.set('view', [...viewChoices].map(([f, v]) => `${f}:${v}`).join(','));
  // ':' ',' '/' are fine in a query; leaving them unescaped keeps the URL readable.
  const query = p.toString().replace(/%3A/gi, ':').replace(/%2C/gi, ',').replace(/%2F/gi, '/');
  history.replaceState(null, '', `${location.pathname}${query ? '?' + query : ''}${location.hash}`);
}

// ?catchup=<s>: how far behind the live edge the MSE view may fall before it
// speeds up (default 0.5 s); also settable live as osprey.players[feed].settings.
const mseSettings = (() => {
  const v = Number(params.get('catchup'));
  return v > 0 ? { catchUpLag: v } : {};
})();

/**
 * The views a feed offers, default first: the raw canvas only plays YUYV; the
 * JPEG and H.264 views exist when the server lists their endpoints (a JPEG feed
 * has no raw endpoint), and the H.264 ones when the browser has MSE or
 * WebCodecs. An H.264 feed opens in MSE.
 */
function viewsOf(feed) {
  const views = [];
  const mp4 = feed.endpoints?.mp4 && hasMse();
  if (feed.format === 'h264' && mp4) views.push('mp4');
  if (feed.format === 'yuyv') views.push('raw');
  if (feed.endpoints?.jpeg) views.push('jpeg');
  if (feed.endpoints?.mjpeg) views.push('mjpeg');
  if (feed.format !== 'h264' && mp4) views.push('mp4');
  if (feed.endpoints?.h264 && hasWebCodecs()) views.push('webcodecs');
  return views;
}

// Live state for automated tests (and the curious, from the console).
window.osprey = {
  rendererMode,
  players: {}, // feed name -> state of its current view (see players.js)
  /** Switches a feed's view, as the selector does; returns false if the feed has no such view. */
  setView(name, view) {
    const panel = panels.get(name);
    return panel ? panel.choose(view) : false;
  },
};

/** One feed's box: a header with the view selector, and the current view below it. */
class Panel {
  constructor(feed) {
    this.name = feed.name;
    this.feed = feed;
    this.view = null;

    this.root = el('figure', 'player');
    this.root.id = `player-${feed.name}`;
    this.select = el('select');
    this.select.id = `view-${feed.name}`;
    this.select.title = 'how the page receives and draws this feed';
    this.select.onchange = () => this.choose(this.select.value);
    this.snapshot = el('a', '', 'snapshot');
    this.snapshot.target = '_blank';
    this.badge = el('span', 'badge');
    const head = el('div', 'player-head');
    head.append(el('strong', '', feed.name), this.select, this.snapshot, this.badge);
    this.body = el('div');
    this.root.append(head, this.body);
    this.update(feed);
  }

  /** Shows the view picked in the URL or the selector, else the feed's default. */
  wanted() {
    const views = viewsOf(this.feed);
    const chosen = viewChoices.get(this.name);
    return views.includes(chosen) ? chosen : views[0];
  }

  choose(view) {
    if (!viewsOf(this.feed).includes(view)) return false;
    viewChoices.set(this.name, view);
    saveViewChoices();
    this.show(view);
    return true;
  }

  show(view) {
    this.select.value = view;
    if (this.view?.state.view === view) return;
    // Tear the old view down first: its socket or stream must not outlive it.
    this.view?.stop();
    this.view =
      view === 'raw' ? new RawView(this.feed, this.badge, rendererMode)
      : view === 'jpeg' ? new JpegView(this.feed, this.badge)
      : view === 'mp4' ? new MseView(this.feed, this.badge, mseSettings)
      : view === 'webcodecs' ? new WebCodecsView(this.feed, this.badge)
      : new MjpegView(this.feed, this.badge);
    this.body.replaceChildren(...this.view.nodes);
    window.osprey.players[this.name] = this.view.state;
  }

  update(feed) {
    this.feed = feed;
    const views = viewsOf(feed);
    // Rebuild the options only when the set changed: replacing them would close an open dropdown.
    if ([...this.select.options].map((o) => o.value).join() !== views.join()) {
      this.select.replaceChildren(...views.map((v) => Object.assign(el('option', '', VIEW_LABELS[v]), { value: v })));
    }
    this.snapshot.hidden = !feed.endpoints?.snapshot;
    if (feed.endpoints?.snapshot) this.snapshot.href = feed.endpoints.snapshot;
    const view = this.wanted();
    if (this.view?.state.view === view) this.view.update(feed);
    else this.show(view);
  }

  stop() {
    this.view?.stop();
    this.root.remove();
    delete window.osprey.players[this.name];
  }
}

// ---------------------------------------------------------------------------
// Feed list
// ---------------------------------------------------------------------------

const panels = new Map(); // name -> Panel
const tbody = document.querySelector('#feeds tbody');
const playersEl = document.getElementById('players');
const statusEl = document.getElementById('status');

const fmtFps = (v) => (typeof v === 'number' ? (Math.round(v * 10) / 10).toString() : '–');

/** The derived JPEG encoder of a raw feed: quality, frames encoded and skipped (too busy), idle when nobody watches. */
function jpegCell(f) {
  const td = el('td');
  const j = f.jpeg;
  if (!j) {
    td.textContent = '–';
    return td;
  }
  const quality = typeof f.jpegQuality === 'number' ? `q${f.jpegQuality} · ` : '';
  td.textContent = `${quality}${j.encodedFrames} enc · ${j.skippedFrames} skip${j.running ? '' : ' · idle'}`;
  td.className = j.running ? '' : 'muted';
  td.title = `JPEG encoder: ${j.encodedFrames} frames encoded, ${j.skippedFrames} skipped, ${j.viewers} JPEG viewers`;
  return td;
}

function renderFeeds(feeds) {
  const rows = feeds.map((f) => {
    const tr = el('tr');
    tr.dataset.feed = f.name;
    const shown = viewsOf(f).length > 0;
    const player = shown ? el('a', '', 'playing below') : el('span', 'muted', 'no player');
    if (shown) player.href = `#player-${feedPath(f.name)}`;
    const state = el('span', f.state === 'running' ? 'ok' : 'warn', f.state ?? '–');
    const name = el('td', '', f.name);
    if (f.source) name.title = f.source;
    const cells = [
      name,
      el('td', '', f.format ?? '–'),
      // 0×0 until the first frame tells the size.
      el('td', '', f.width > 0 ? `${f.width}×${f.height}` : '–'),
      el('td', 'num', fmtFps(f.fps)),
      el('td', 'num', fmtFps(f.measuredFps)),
      el('td', 'num', String(f.viewers ?? '–')),
      el('td', 'num', String(f.drops ?? '–')),
      jpegCell(f),
      el('td'),
      el('td'),
    ];
    cells[8].append(state);
    cells[9].append(player);
    tr.append(...cells);
    return tr;
  });
  tbody.replaceChildren(...rows);
  document.getElementById('no-feeds').hidden = feeds.length > 0;

  // A box for every feed with a view; boxes of feeds that went away are stopped.
  const wanted = new Set();
  for (const f of feeds) {
    if (viewsOf(f).length === 0) continue;
    wanted.add(f.name);
    const p = panels.get(f.name);
    if (p) {
      p.update(f);
    } else {
      const np = new Panel(f);
      panels.set(f.name, np);
      playersEl.append(np.root);
    }
  }
  for (const [name, p] of panels) {
    if (!wanted.has(name)) {
      p.stop();
      panels.delete(name);
    }
  }
}

async function refresh() {
  try {
    const res = await fetch('/api/feeds', { cache: 'no-store' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    renderFeeds(await res.json());
    statusEl.textContent = '';
    statusEl.classList.remove('error');
  } catch (e) {
    // Keep the players: they reconnect on their own when the server is back.
    statusEl.textContent = `cannot load /api/feeds: ${e.message}`;
    statusEl.classList.add('error');
  } finally {
    // Schedule after completion so a slow server never gets overlapping polls.
    setTimeout(refresh, REFRESH_MS);
  }
}

document.getElementById('renderer-mode').textContent =
  rendererMode === 'auto' ? 'renderer: auto (WebGL, else 2D)' : `renderer: ${rendererMode} (forced by URL)`;
refresh();
