// Osprey page: lists the server's feeds and shows each one that can be shown,
// in the view picked per feed (raw canvas, JPEG over WebSocket, MJPEG <img>,
// H.264 through Media Source Extensions or WebCodecs, MPEG-TS through jsmpeg);
// lists the relay's streams (played like feeds) and destinations with their live state.
import { el, feedPath, RawView, JpegView, MjpegView } from './players.js';
import { MseView, WebCodecsView, hasMse, hasWebCodecs } from './mp4player.js';
import { TsView } from './tsplayer.js';

const REFRESH_MS = 2000;
const RELAY_REFRESH_MS = 1000;
const RELAY_ABSENT_RETRY_MS = 10000; // a server without /api/relay (older Osprey) is asked again now and then
const VIEW_LABELS = {
  raw: 'raw (canvas)',
  jpeg: 'JPEG over WebSocket',
  mjpeg: 'MJPEG <img>',
  mp4: 'H.264 (MSE)',
  webcodecs: 'H.264 (WebCodecs)',
  ts: 'MPEG-TS (jsmpeg)',
};

const params = new URLSearchParams(location.search);

// ?renderer=2d forces the fallback, ?renderer=webgl forces WebGL (no fallback,
// so a test asking for WebGL cannot silently get 2D); anything else is auto.
// The raw and TS views have a choice of renderer.
const rendererMode = (() => {
  const r = params.get('renderer');
  return r === '2d' || r === 'webgl' ? r : 'auto';
})();

// ?view=<feed>:<raw|jpeg|mjpeg|mp4|webcodecs|ts>, repeatable or comma-separated, so a test can
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
 * WebCodecs. An H.264 feed opens in MSE, an MPEG-TS feed (and every stream) in jsmpeg.
 */
function viewsOf(feed) {
  const views = [];
  const mp4 = feed.endpoints?.mp4 && hasMse();
  if (feed.format === 'mpegts' || feed.endpoints?.ts) views.push('ts');
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
  players: {}, // feed or stream name -> state of its current view (see players.js)
  relay: null, // the last /api/relay answer; null while the server has none
  /** Switches a feed's view, as the selector does; returns false if the feed has no such view. */
  setView(name, view) {
    const panel = panels.get(name);
    return panel ? panel.choose(view) : false;
  },
};

/** One feed's (or stream's) box: a header with the view selector, and the current view below it. */
class Panel {
  constructor(feed) {
    this.name = feed.name;
    this.kind = feed.kind ?? 'feed';
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
    head.append(el('strong', '', feed.name));
    if (this.kind === 'stream') head.append(el('span', 'muted', 'stream'));
    head.append(this.select, this.snapshot, this.badge);
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
      : view === 'ts' ? new TsView(this.feed, this.badge, rendererMode)
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

const panels = new Map(); // name -> Panel (feeds and streams)
let feedNames = new Set(); // from the last /api/feeds
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

  feedNames = new Set(feeds.map((f) => f.name));
  syncPanels('feed', feeds);
}

/**
 * A box for every feed (or stream) with a view; boxes of that kind that went away are stopped. A feed
 * and a stream of the same name would share an id: the feed wins.
 */
function syncPanels(kind, items) {
  const wanted = new Set();
  for (const f of items) {
    if (viewsOf(f).length === 0) continue;
    if (kind === 'stream' && feedNames.has(f.name)) continue;
    wanted.add(f.name);
    let p = panels.get(f.name);
    if (p && p.kind !== kind) {
      p.stop();
      p = null;
    }
    if (p) {
      p.update(f);
    } else {
      const np = new Panel(f);
      panels.set(f.name, np);
      // Feeds' boxes first, then streams', whichever list arrived first.
      const firstStream = kind === 'feed' ? [...panels.values()].find((x) => x.kind === 'stream') : null;
      playersEl.insertBefore(np.root, firstStream?.root ?? null);
    }
  }
  for (const [name, p] of panels) {
    if (p.kind === kind && !wanted.has(name)) {
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

// ---------------------------------------------------------------------------
// Relay: streams (feeds combined, played like feeds) and destinations (outbound WebSocket clients)
// ---------------------------------------------------------------------------

const relayEl = document.getElementById('relay');
const relayStatusEl = document.getElementById('relay-status');
const streamsBody = document.querySelector('#streams tbody');
const destinationsBody = document.querySelector('#destinations tbody');
const DESTINATION_STATE_CLASS = { connected: 'ok', connecting: 'warn', reconnecting: 'warn', stopped: 'muted' };

/** 1234567 -> '1.2 MB': counters of a long-running relay get large. */
function fmtBytes(n) {
  if (typeof n !== 'number') return '–';
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return i === 0 ? `${n} B` : `${n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

const num = (v) => el('td', 'num', typeof v === 'number' ? String(v) : '–');

/** A stream as the page plays it: MPEG-TS at /ws/{stream}/ts, like a feed. */
const streamAsFeed = (s) => ({
  name: s.name,
  kind: 'stream',
  format: 'mpegts',
  width: 0,
  height: 0,
  feeds: s.feeds,
  endpoints: { ts: `/ws/${feedPath(s.name)}/ts` },
});

function renderRelay(relay) {
  const streams = Array.isArray(relay?.streams) ? relay.streams.filter((s) => typeof s?.name === 'string') : [];
  const destinations = Array.isArray(relay?.destinations) ? relay.destinations : [];
  window.osprey.relay = { streams, destinations };
  relayEl.hidden = false;
  relayEl.dataset.state = 'ok';

  streamsBody.replaceChildren(...streams.map((s) => {
    const tr = el('tr');
    tr.dataset.stream = s.name;
    const player = el('a', '', 'playing below');
    player.href = `#player-${feedPath(s.name)}`;
    const bytes = el('td', 'num', fmtBytes(s.bytes));
    bytes.title = `${s.bytes ?? '–'} bytes`;
    const cells = [el('td', '', s.name), el('td', '', Array.isArray(s.feeds) ? s.feeds.join(', ') : '–'), num(s.viewers), bytes, el('td')];
    cells[4].append(player);
    tr.append(...cells);
    return tr;
  }));
  document.getElementById('streams').hidden = streams.length === 0;
  document.getElementById('no-streams').hidden = streams.length > 0;

  destinationsBody.replaceChildren(...destinations.map((d) => {
    const tr = el('tr');
    tr.dataset.destination = d.id ?? '';
    const state = el('span', DESTINATION_STATE_CLASS[d.state] ?? 'warn', d.state ?? '–');
    const stateCell = el('td');
    stateCell.append(state);
    const sent = el('td', 'num', fmtBytes(d.bytesSent));
    sent.title = `${d.bytesSent ?? '–'} bytes`;
    const error = el('td', d.lastError ? 'error' : 'muted', d.lastError ?? '–');
    error.classList.add('last-error');
    if (d.lastError) error.title = d.lastError;
    tr.append(
      el('td', '', d.id ?? '–'), el('td', '', d.stream ?? '–'), el('td', '', d.destination ?? '–'), stateCell,
      sent, num(d.messagesSent), num(d.drops), num(d.reconnects), error,
    );
    return tr;
  }));
  document.getElementById('destinations').hidden = destinations.length === 0;
  document.getElementById('no-destinations').hidden = destinations.length > 0;

  syncPanels('stream', streams.map(streamAsFeed));
}

async function refreshRelay() {
  let next = RELAY_REFRESH_MS;
  try {
    const res = await fetch('/api/relay', { cache: 'no-store' });
    if (res.status === 404 || res.status === 405) {
      // An Osprey without a relay: nothing to show, and no stream boxes.
      window.osprey.relay = null;
      relayEl.hidden = true;
      relayEl.dataset.state = 'absent';
      relayStatusEl.textContent = '';
      syncPanels('stream', []);
      next = RELAY_ABSENT_RETRY_MS;
    } else {
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      renderRelay(await res.json());
      relayStatusEl.textContent = '';
      relayStatusEl.classList.remove('error');
    }
  } catch (e) {
    // Keep the last state on screen (and the stream players, which reconnect on their own), marked stale.
    if (!relayEl.hidden) {
      relayEl.dataset.state = 'error';
      relayStatusEl.textContent = `cannot load /api/relay: ${e.message}; the state shown may be stale`;
      relayStatusEl.classList.add('error');
    }
  } finally {
    setTimeout(refreshRelay, next);
  }
}

document.getElementById('renderer-mode').textContent =
  rendererMode === 'auto' ? 'renderer: auto (WebGL, else 2D)' : `renderer: ${rendererMode} (forced by URL)`;
refresh();
refreshRelay();
