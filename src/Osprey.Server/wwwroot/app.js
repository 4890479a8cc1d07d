// Osprey page: lists the server's feeds and plays the raw YUYV ones.
import { readProbe, create2dRenderer, createWebglRenderer } from './yuyv.js';

const REFRESH_MS = 2000;
// Reconnect delays after a drop; the last one repeats until a connection delivers frames.
const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
const STATS_EVERY_MS = 250; // the stat line is text: no need to touch the DOM every frame

// ?renderer=2d forces the fallback, ?renderer=webgl forces WebGL (no fallback,
// so a test asking for WebGL cannot silently get 2D); anything else is auto.
const rendererMode = (() => {
  const r = new URLSearchParams(location.search).get('renderer');
  return r === '2d' || r === 'webgl' ? r : 'auto';
})();

// Live state for automated tests (and the curious, from the console).
window.osprey = { rendererMode, players: {} };

const wsProtocol = location.protocol === 'https:' ? 'wss:' : 'ws:';

/** Makes an element with a class and optional text, to keep DOM code short. */
function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function newCanvas(name, width, height) {
  const c = document.createElement('canvas');
  c.width = width;
  c.height = height;
  c.id = `canvas-${name}`;
  c.dataset.feed = name;
  return c;
}

/**
 * Picks the renderer for one player. Each attempt gets a fresh canvas: a canvas
 * that was asked for a WebGL context is not guaranteed to hand out a 2D one.
 */
function createRenderer(name, width, height) {
  const attempt = (factory) => {
    const canvas = newCanvas(name, width, height);
    try {
      return { renderer: factory(canvas), canvas };
    } catch (e) {
      // e.g. shader compile failure on an odd driver
      console.warn(`osprey: ${factory.name} failed`, e);
      return { renderer: null, canvas, error: String(e.message || e) };
    }
  };
  if (rendererMode !== '2d') {
    const gl = attempt(createWebglRenderer);
    if (gl.renderer) return gl;
    if (rendererMode === 'webgl') {
      return { renderer: null, canvas: gl.canvas, error: `WebGL is unavailable (forced by ?renderer=webgl)${gl.error ? ': ' + gl.error : ''}` };
    }
  }
  return attempt(create2dRenderer);
}

/** Counts timestamps within the last second, dropping older ones. */
function perSecond(times, now) {
  while (times.length && now - times[0] > 1000) times.shift();
  return times.length;
}

class Player {
  constructor(feed) {
    this.name = feed.name;
    this.feed = feed;
    this.ws = null;
    this.pending = null;      // newest undrawn frame: { data, probe }
    this.attempt = 0;         // index into BACKOFF_MS
    this.retryTimer = 0;
    this.stopped = false;
    this.lastRecvCounter = null;
    this.framesThisConnection = 0;
    this.drawTimes = [];
    this.recvTimes = [];
    this.lastStats = 0;

    const { renderer, canvas, error } = createRenderer(feed.name, feed.width, feed.height);
    this.renderer = renderer;

    this.root = el('figure', 'player');
    this.root.id = `player-${feed.name}`;
    const head = el('div', 'player-head');
    head.append(el('strong', '', feed.name), (this.statusEl = el('span', 'badge')));
    this.statsEl = el('figcaption', 'stats');
    this.root.append(head, canvas, this.statsEl);

    // The object tests read; mutated in place so a reference stays live.
    this.state = {
      canvas,
      frames: 0,          // frames drawn
      received: 0,        // frames received (drawn or not)
      lastCounter: null,  // probe counter of the last drawn frame
      fps: 0,             // frames drawn in the last second
      receivedFps: 0,     // frames received in the last second
      latencyMs: null,    // now - capture time of the last drawn frame
      skipped: 0,         // counter gaps + frames replaced before being drawn
      renderer: renderer ? renderer.kind : null,
      connected: false,
      status: 'connecting…',
      error: error || null,
    };
    window.osprey.players[feed.name] = this.state;

    this.renderStats();
    if (!renderer) {
      this.setStatus(error || 'no renderer available', true);
      return;
    }
    this.connect();
    this.raf = requestAnimationFrame((t) => this.tick(t));
  }

  get url() {
    const path = this.feed.endpoints?.raw ?? `/ws/${encodeURIComponent(this.name)}/raw`;
    return `${wsProtocol}//${location.host}${path}`;
  }

  setStatus(text, isError = false) {
    this.state.status = text;
    this.statusEl.textContent = text;
    this.statusEl.classList.toggle('error', isError);
    this.statusEl.classList.toggle('live', text === 'live');
  }

  connect() {
    this.retryTimer = 0;
    const ws = new WebSocket(this.url);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.lastRecvCounter = null; // gaps across a reconnect are not skips
    this.framesThisConnection = 0;

    ws.onopen = () => {
      this.state.connected = true;
      this.setStatus('live');
    };
    ws.onmessage = (e) => this.onFrame(e.data);
    // An error is always followed by a close, so only close schedules the retry
    // (handling both would reconnect twice).
    ws.onerror = () => {};
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.state.connected = false;
      if (this.stopped) return;
      if (this.framesThisConnection > 0) this.attempt = 0; // it worked: start the backoff over
      const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
      this.attempt++;
      this.setStatus('reconnecting…');
      this.retryTimer = setTimeout(() => this.connect(), delay);
    };
  }

  onFrame(data) {
    if (!(data instanceof ArrayBuffer)) return; // text messages are not frames
    const s = this.state;
    s.received++;
    this.framesThisConnection++;
    this.recvTimes.push(performance.now());

    const probe = readProbe(data);
    if (probe) {
      if (this.lastRecvCounter !== null && probe.counter > this.lastRecvCounter + 1) {
        s.skipped += probe.counter - this.lastRecvCounter - 1; // lost before reaching us
      }
      this.lastRecvCounter = probe.counter;
    }
    // Only the newest frame is drawn; one still waiting is dropped.
    if (this.pending) s.skipped++;
    this.pending = { data, probe };
  }

  tick(now) {
    if (this.stopped) return;
    this.raf = requestAnimationFrame((t) => this.tick(t));
    const s = this.state;
    if (this.pending) {
      const { data, probe } = this.pending;
      this.pending = null;
      const size = this.frameSize(data, probe);
      if (size) {
        this.renderer.draw(new Uint8Array(data), size.width, size.height);
        s.frames++;
        this.drawTimes.push(now);
        s.lastCounter = probe ? probe.counter : null;
        // Date.now() is ms, capture time µs; the result is only meaningful if
        // the server's and the browser's clocks agree.
        s.latencyMs = probe ? (Date.now() * 1000 - probe.captureMicros) / 1000 : null;
        if (s.error) { s.error = null; this.setStatus('live'); }
      } else {
        s.error = `unexpected frame size (${data.byteLength} bytes)`;
        this.setStatus(s.error, true);
      }
    }
    s.fps = perSecond(this.drawTimes, now);
    s.receivedFps = perSecond(this.recvTimes, performance.now());
    if (now - this.lastStats >= STATS_EVERY_MS) {
      this.lastStats = now;
      this.renderStats();
    }
  }

  /**
   * The frame's size: the probe header's if it matches the byte count (so a
   * feed that changed resolution keeps playing), else the feed's.
   */
  frameSize(data, probe) {
    const n = data.byteLength;
    if (probe && probe.width * probe.height * 2 === n && probe.width % 2 === 0) {
      return { width: probe.width, height: probe.height };
    }
    const { width, height } = this.feed;
    return width * height * 2 === n ? { width, height } : null;
  }

  renderStats() {
    const s = this.state;
    const latency = s.latencyMs === null ? '–' : `${Math.round(s.latencyMs)} ms`;
    const counter = s.lastCounter === null ? '–' : `#${s.lastCounter}`;
    this.statsEl.textContent =
      `${s.fps} fps · latency (clocks assumed in sync): ${latency} · frame ${counter} · ` +
      `skipped ${s.skipped} · renderer ${s.renderer ?? 'none'}`;
  }

  update(feed) {
    const oldUrl = this.url;
    this.feed = feed;
    // If the endpoint moved, drop the socket; onclose reconnects to the new one.
    if (this.ws && this.url !== oldUrl) this.ws.close();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    cancelAnimationFrame(this.raf);
    if (this.ws) this.ws.close();
    this.root.remove();
    delete window.osprey.players[this.name];
  }
}

// ---------------------------------------------------------------------------
// Feed list
// ---------------------------------------------------------------------------

const players = new Map(); // name -> Player
const tbody = document.querySelector('#feeds tbody');
const playersEl = document.getElementById('players');
const statusEl = document.getElementById('status');

const fmtFps = (v) => (typeof v === 'number' ? (Math.round(v * 10) / 10).toString() : '–');

function renderFeeds(feeds) {
  const rows = feeds.map((f) => {
    const tr = el('tr');
    tr.dataset.feed = f.name;
    const player = f.format === 'yuyv' ? el('a', '', 'playing below') : el('span', 'muted', 'no player yet');
    if (f.format === 'yuyv') player.href = `#player-${encodeURIComponent(f.name)}`;
    const state = el('span', f.state === 'running' ? 'ok' : 'warn', f.state ?? '–');
    const name = el('td', '', f.name);
    if (f.source) name.title = f.source;
    const cells = [
      name,
      el('td', '', f.format ?? '–'),
      el('td', '', `${f.width}×${f.height}`),
      el('td', 'num', fmtFps(f.fps)),
      el('td', 'num', fmtFps(f.measuredFps)),
      el('td', 'num', String(f.viewers ?? '–')),
      el('td', 'num', String(f.drops ?? '–')),
      el('td'),
      el('td'),
    ];
    cells[7].append(state);
    cells[8].append(player);
    tr.append(...cells);
    return tr;
  });
  tbody.replaceChildren(...rows);
  document.getElementById('no-feeds').hidden = feeds.length > 0;

  // Start players for new yuyv feeds, stop them for feeds that went away.
  const wanted = new Set();
  for (const f of feeds) {
    if (f.format !== 'yuyv') continue;
    wanted.add(f.name);
    const p = players.get(f.name);
    if (p) {
      p.update(f);
    } else {
      const np = new Player(f);
      players.set(f.name, np);
      playersEl.append(np.root);
    }
  }
  for (const [name, p] of players) {
    if (!wanted.has(name)) {
      p.stop();
      players.delete(name);
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
