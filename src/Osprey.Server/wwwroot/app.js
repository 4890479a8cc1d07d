// Osprey page: lists the server's feeds, each in a box, and plays only those asked for (?view=feed:view, the
// play button or the selector; with no choice, the first feed), each in its view (raw canvas, JPEG over
// WebSocket, MJPEG <img>, H.264 through Media Source Extensions or WebCodecs, MPEG-TS through jsmpeg), by
// default the lightest at full rate; a view a feed does not offer is explained, never replaced by another.
// Lists the relay's streams (played like feeds) and destinations with their live state.
import { el, feedPath, RawView, JpegView, MjpegView } from './players.js';
import { MseView, WebCodecsView, hasMse, hasWebCodecs } from './mp4player.js';
import { TsView } from './tsplayer.js';
import { WebRtcView, hasWebRtc } from './webrtc.js';
import { HlsView, hasHls } from './hlsplayer.js';

const REFRESH_MS = 2000;
const RELAY_REFRESH_MS = 1000;
const RELAY_ABSENT_RETRY_MS = 10000; // a server without /api/relay (older Osprey) is asked again now and then
const VIEW_LABELS = {
  webrtc: 'WebRTC (WHEP)',
  raw: 'raw (canvas)',
  jpeg: 'JPEG over WebSocket',
  mjpeg: 'MJPEG <img>',
  mp4: 'H.264 (MSE)',
  webcodecs: 'H.264 (WebCodecs)',
  ts: 'MPEG-TS (jsmpeg)',
  hls: 'LL-HLS (hls.js)',
  hlsplain: 'HLS (hls.js, whole segments)',
};

const params = new URLSearchParams(location.search);

// ?renderer=2d forces the fallback, ?renderer=webgl forces WebGL (no fallback,
// so a test asking for WebGL cannot silently get 2D); anything else is auto.
// The raw and TS views have a choice of renderer.
const rendererMode = (() => {
  const r = params.get('renderer');
  return r === '2d' || r === 'webgl' ? r : 'auto';
})();

// ?view=<feed>:<webrtc|raw|jpeg|mjpeg|mp4|webcodecs|ts>, repeatable or comma-separated: the feeds named play, in
// those views, and no other. Feed names never hold ':' or ',', but may hold '/', so the view is what follows
// the last ':'. A view the page does not know is kept, so the box can say so instead of playing another.
const viewChoices = new Map();
for (const value of params.getAll('view')) {
  for (const item of value.split(',')) {
    const i = item.lastIndexOf(':');
    if (i > 0 && i < item.length - 1) viewChoices.set(item.slice(0, i), item.slice(i + 1));
  }
}
// Once the URL or the user picked what plays, nothing else starts on its own (not even the default feed).
let explicitChoice = viewChoices.size > 0;

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
 * The views a feed offers, the default first: the lightest that still gives the feed's full rate. Raw and
 * JPEG feeds open as JPEG over WebSocket (a 640x480 YUYV frame is 600 kB, its JPEG some 40 kB: raw over a
 * WebSocket cost 11-18 MB/s and half the rate in Chromium), H.264 feeds in MSE (else WebCodecs), MPEG-TS feeds
 * and streams in jsmpeg. A view is offered when the server lists its endpoint in /api/feeds and the browser
 * can play it; the raw canvas draws YUYV only.
 */
function viewsOf(feed) {
  const e = feed.endpoints ?? {};
  const mp4 = e.mp4 && hasMse();
  const webcodecs = e.h264 && hasWebCodecs();
  const views = [];
  // WebRTC first where the browser has it: the lowest latency, and what plays on phones without MSE.
  if (e.whep && hasWebRtc()) views.push('webrtc');
  if (e.ts) views.push('ts');
  if (feed.format === 'h264') {
    if (mp4) views.push('mp4');
    if (webcodecs) views.push('webcodecs');
  }
  if (e.jpeg) views.push('jpeg');
  if (e.mjpeg) views.push('mjpeg');
  if (e.raw && feed.format === 'yuyv') views.push('raw');
  if (feed.format !== 'h264') {
    if (mp4) views.push('mp4');
    if (webcodecs) views.push('webcodecs');
  }
  if (e.hls && hasHls()) views.push('hls', 'hlsplain');
  return views;
}

/** Why a feed does not offer a view, in words for the page; null when it does. */
function whyNotOffered(feed, view) {
  if (viewsOf(feed).includes(view)) return null;
  const what = `${feed.kind === 'stream' ? 'stream' : 'feed'} '${feed.name}' carries ${feed.format ?? 'nothing yet'}`;
  const e = feed.endpoints ?? {};
  switch (view) {
    case 'ts':
      return `${VIEW_LABELS.ts} plays MPEG-TS feeds (ffmpeg publishing to /ts/{feed}) and streams only; ${what}.`;
    case 'raw':
      if (e.raw) return `The raw canvas draws YUYV frames only; ${what}.`;
      if (feed.format === 'jpeg') return `Raw frames of a JPEG feed need the server's JPEG decoder (libturbojpeg0), which it does not have.`;
      if (feed.format === 'h264') return `Raw frames of an H.264 feed go through the server's JPEG decoder (libturbojpeg0), which it does not have.`;
      return `Raw frames are offered for raw, JPEG and H.264 feeds only; ${what}.`;
    case 'jpeg':
    case 'mjpeg':
      if (feed.format === 'yuyv' || feed.format === 'nv12') return `JPEG of a raw feed needs the server's JPEG encoder (libturbojpeg0), which it does not have.`;
      return `JPEG is offered for raw, JPEG and H.264 feeds (the server decodes H.264) only; ${what}.`;
    case 'webrtc':
      if (e.whep) return 'This browser has no WebRTC with H.264 (RTCPeerConnection, an H.264 decoder).';
      return `WebRTC is offered for H.264 feeds and for raw and JPEG feeds, which the server encodes; ${what}.`;
    case 'mp4':
    case 'webcodecs':
      if (view === 'mp4' && e.mp4) return 'This browser has no Media Source Extensions.';
      if (view === 'webcodecs' && e.h264) return 'This browser has no WebCodecs (VideoDecoder).';
      if (feed.format === 'jpeg') return `H.264 of a JPEG feed goes through the server's JPEG decoder (libturbojpeg0), which it does not have.`;
      return `H.264 is offered for H.264 feeds and for raw and JPEG feeds, which the server encodes; there is no encoder for this one: ${what}.`;
    case 'hls':
    case 'hlsplain':
      if (e.hls) return 'This browser can play HLS neither through Media Source Extensions nor natively.';
      return `HLS is offered for H.264 feeds and for raw and JPEG feeds, which the server encodes; ${what}.`;
    default:
      return `There is no view '${view}'; the views are ${Object.keys(VIEW_LABELS).join(', ')}.`;
  }
}

/**
 * The feed that plays when nobody chose: the first feed with a view (else the first stream), picked once the
 * feed list has come, so that a relay answering first does not make a stream the default.
 */
let defaultName = null;
let feedsLoaded = false;
let lastFeeds = [];
let lastStreams = [];

function pickDefault() {
  const present = (n) => lastFeeds.some((f) => f.name === n) || lastStreams.some((s) => s.name === n);
  if (defaultName !== null && present(defaultName)) return;
  defaultName = null;
  if (!feedsLoaded) return;
  const first = lastFeeds.find((f) => viewsOf(f).length) ?? lastStreams.find((s) => viewsOf(s).length && !feedNames.has(s.name));
  defaultName = first?.name ?? null;
}

const isPlaying = (name) => viewChoices.has(name) || (!explicitChoice && name === defaultName);

/** Makes the current picks explicit before a change by hand, so a feed playing as the default goes on playing. */
function makeExplicit() {
  if (explicitChoice) return;
  explicitChoice = true;
  const p = defaultName !== null ? panels.get(defaultName) : null;
  if (p?.view) viewChoices.set(p.name, p.view.state.view);
}

// Live state for automated tests (and the curious, from the console).
window.osprey = {
  rendererMode,
  players: {}, // feed or stream name -> state of its current view (see players.js); only what plays or explains
  relay: null, // the last /api/relay answer; null while the server has none
  /** Plays a feed in a view, as the selector does; returns false if the feed does not offer it. */
  setView(name, view) {
    const panel = panels.get(name);
    return panel ? panel.choose(view) : false;
  },
};

/**
 * One feed's (or stream's) box. It plays only when asked for (the URL, the play button or the selector; with
 * no choice, the default feed); otherwise it is a card with the feed's name, format and a play button. A view
 * the feed does not offer is explained in the box, never swapped for another.
 */
class Panel {
  constructor(feed) {
    this.name = feed.name;
    this.kind = feed.kind ?? 'feed';
    this.feed = feed;
    this.view = null;
    this.shown = null; // what the body holds: 'idle', 'why:<view>' or the playing view's name

    this.root = el('figure', 'player');
    this.root.id = `player-${feed.name}`;
    this.root.dataset.feed = feed.name;
    this.select = el('select');
    this.select.id = `view-${feed.name}`;
    this.select.title = 'how the page receives and draws this feed';
    this.select.onchange = () => this.choose(this.select.value);
    this.button = el('button', 'play');
    this.button.type = 'button';
    this.button.id = `play-${feed.name}`;
    this.button.onclick = () => (this.view || this.shown?.startsWith('why:') ? this.stopPlaying() : this.choose(this.select.value || viewsOf(this.feed)[0]));
    this.snapshot = el('a', '', 'snapshot');
    this.snapshot.target = '_blank';
    this.badge = el('span', 'badge');
    const head = el('div', 'player-head');
    head.append(el('strong', '', feed.name));
    if (this.kind === 'stream') head.append(el('span', 'muted', 'stream'));
    head.append(this.button, this.select, this.snapshot, this.badge);
    this.body = el('div');
    this.root.append(head, this.body);
    this.update(feed);
  }

  /** The view to play: the one chosen for this feed, else its default. */
  wanted() {
    return viewChoices.get(this.name) ?? viewsOf(this.feed)[0];
  }

  /** Plays the feed in <view> (from now on, and in the URL); false when the feed does not offer it. */
  choose(view) {
    if (!viewsOf(this.feed).includes(view)) return false;
    makeExplicit();
    viewChoices.set(this.name, view);
    saveViewChoices();
    this.sync();
    return true;
  }

  stopPlaying() {
    makeExplicit();
    viewChoices.delete(this.name);
    saveViewChoices();
    this.sync();
  }

  /** Shows what the choices say now: the view playing, an explanation, or the idle card. */
  sync() {
    if (!isPlaying(this.name)) {
      this.idle();
      return;
    }
    const view = this.wanted();
    const why = view === undefined ? `${this.kind === 'stream' ? 'Stream' : 'Feed'} '${this.name}' has no view this page can play.` : whyNotOffered(this.feed, view);
    if (why) this.explain(view, why);
    else this.show(view);
  }

  show(view) {
    this.setOptions(null);
    this.select.value = view;
    this.button.textContent = 'stop';
    if (this.view?.state.view === view) {
      this.view.update(this.feed);
      return;
    }
    // Tear the old view down first: its socket or stream must not outlive it.
    this.view?.stop();
    this.view =
      view === 'webrtc' ? new WebRtcView(this.feed, this.badge)
      : view === 'raw' ? new RawView(this.feed, this.badge, rendererMode)
      : view === 'jpeg' ? new JpegView(this.feed, this.badge)
      : view === 'mp4' ? new MseView(this.feed, this.badge, mseSettings)
      : view === 'webcodecs' ? new WebCodecsView(this.feed, this.badge)
      : view === 'ts' ? new TsView(this.feed, this.badge, rendererMode)
      : view === 'hls' || view === 'hlsplain' ? new HlsView(this.feed, this.badge, view === 'hls')
      : new MjpegView(this.feed, this.badge);
    this.shown = view;
    this.body.replaceChildren(...this.view.nodes);
    window.osprey.players[this.name] = this.view.state;
  }

  /** Says why the chosen view is not played, and offers the views there are; nothing connects. */
  explain(view, why) {
    this.stopView();
    this.setOptions(view);
    this.select.value = view ?? '';
    this.button.textContent = 'stop';
    this.badge.textContent = 'not offered';
    this.badge.className = 'badge error';
    if (this.shown !== `why:${view}` || this.body.textContent !== why) {
      const p = el('p', 'why error', why);
      p.id = `why-${this.name}`;
      const offered = viewsOf(this.feed);
      const hint = offered.length
        ? el('p', 'muted', `Pick one it offers above (${offered.map((v) => VIEW_LABELS[v]).join(', ')}).`)
        : el('p', 'muted', 'It offers no view this page can play.');
      this.body.replaceChildren(p, hint);
      this.shown = `why:${view}`;
    }
    window.osprey.players[this.name] = { view, offered: false, reason: why, frames: 0, received: 0, connected: false, status: 'not offered', error: why };
  }

  /** The card of a feed nobody asked for: its name is in the head, its format and size here, and a play button. */
  idle() {
    this.stopView();
    this.setOptions(null);
    this.select.value = viewsOf(this.feed)[0] ?? '';
    this.button.textContent = 'play';
    this.badge.textContent = '';
    this.badge.className = 'badge';
    const f = this.feed;
    const size = f.width > 0 ? ` ${f.width}×${f.height}` : '';
    const text = `${f.format ?? '–'}${size} · not playing: press play, or pick a view`;
    if (this.shown !== 'idle' || this.body.textContent !== text) {
      const card = el('p', 'idle muted', text);
      card.id = `idle-${this.name}`;
      this.body.replaceChildren(card);
      this.shown = 'idle';
    }
  }

  stopView() {
    this.view?.stop();
    this.view = null;
    delete window.osprey.players[this.name];
  }

  /** The selector's options: the views offered, and the chosen one the feed does not offer, marked so. */
  setOptions(missing) {
    const views = viewsOf(this.feed);
    const key = `${views.join()}|${missing ?? ''}`;
    // Rebuild the options only when the set changed: replacing them would close an open dropdown.
    if (this.optionsKey === key) return;
    this.optionsKey = key;
    const options = views.map((v) => Object.assign(el('option', '', VIEW_LABELS[v]), { value: v }));
    if (missing !== null && missing !== undefined && !views.includes(missing)) {
      options.unshift(Object.assign(el('option', '', `${VIEW_LABELS[missing] ?? missing}: not offered`), { value: missing, disabled: true }));
    }
    this.select.replaceChildren(...options);
  }

  update(feed) {
    this.feed = feed;
    this.snapshot.hidden = !feed.endpoints?.snapshot;
    if (feed.endpoints?.snapshot) this.snapshot.href = feed.endpoints.snapshot;
    this.sync();
  }

  stop() {
    this.stopView();
    this.root.remove();
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
  lastFeeds = feeds;
  feedsLoaded = true;
  feedNames = new Set(feeds.map((f) => f.name));
  pickDefault();
  const rows = feeds.map((f) => {
    const tr = el('tr');
    tr.dataset.feed = f.name;
    const player = el('a', '', isPlaying(f.name) ? 'playing below' : 'listed below');
    player.href = `#player-${feedPath(f.name)}`;
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
  syncPanels('feed', feeds);
}

/**
 * A box for every feed (or stream), playing or not (a feed with no view says so in its box, which is where
 * a view asked for in the URL is explained); boxes of that kind that went away are stopped. A feed and a
 * stream of the same name would share an id: the feed wins.
 */
function syncPanels(kind, items) {
  if (kind === 'stream') lastStreams = items;
  pickDefault();
  const wanted = new Set();
  for (const f of items) {
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
  // The default may have moved (it went away, or the feed list came): the other kind's boxes follow.
  pickDefault();
  for (const p of panels.values()) if (p.kind !== kind) p.sync();
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
    const player = el('a', '', isPlaying(s.name) ? 'playing below' : 'listed below');
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
