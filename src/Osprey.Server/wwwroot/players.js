// The ways the Osprey page can show a feed, one class each:
//   RawView   - raw YUYV frames over a WebSocket, converted in the browser (yuyv.js)
//   JpegView  - one JPEG per WebSocket message, decoded with createImageBitmap
//   MjpegView - a multipart/x-mixed-replace stream in an <img>, decoded by the browser
// and, in mp4player.js, the two H.264 views built on View and SocketView:
//   MseView        - fragmented MP4 over a WebSocket into Media Source Extensions
//   WebCodecsView  - H.264 access units over a WebSocket into a VideoDecoder
// and, in tsplayer.js, built on View (jsmpeg owns its socket):
//   TsView         - MPEG-TS (MPEG-1 video, MP2 audio) over a WebSocket, played by the vendored jsmpeg
//
// Every view has the same surface for the page: `nodes` (what to put in the
// player's box), `state` (the object tests read as window.osprey.players[feed]),
// update(feed) for a refreshed /api/feeds entry, and stop().
// Nothing runs at import time, so Node can import readJpegProbe for checks.

import { readProbe, create2dRenderer, createWebglRenderer } from './yuyv.js';

// Reconnect delays after a drop; the last one repeats until a connection delivers frames.
export const BACKOFF_MS = [500, 1000, 2000, 4000, 5000];
export const STATS_EVERY_MS = 250; // the stat line is text: no need to touch the DOM every frame
const POLL_MS = 1000;       // MJPEG: how often to ask the server for its measured fps

/** Makes an element with a class and optional text, to keep DOM code short. */
export function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A feed name as a URL path: names may hold '/', which must stay a separator. */
export const feedPath = (name) => name.split('/').map(encodeURIComponent).join('/');

export const wsUrl = (path) => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;

/** Counts timestamps within the last second, dropping older ones. */
export function perSecond(times, now) {
  while (times.length && now - times[0] > 1000) times.shift();
  return times.length;
}

/** Latency of a frame from its probe; only meaningful if the server's and browser's clocks agree. */
const latencyOf = (probe) => (probe ? (Date.now() * 1000 - probe.captureMicros) / 1000 : null);

/**
 * The probe of a JPEG made by Osprey: SOI (FF D8), then a COM segment (FF FE)
 * of length 0x22 (2 length bytes + the 32-byte probe header), so the header
 * is at byte 6. Returns null for any other JPEG.
 * @param {ArrayBuffer} buffer
 */
export function readJpegProbe(buffer) {
  if (buffer.byteLength < 38) return null;
  const b = new Uint8Array(buffer, 0, 6);
  if (b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff || b[3] !== 0xfe || b[4] !== 0x00 || b[5] !== 0x22) return null;
  return readProbe(buffer, 6);
}

export function newCanvas(name, width, height) {
  const c = document.createElement('canvas');
  // A feed may report 0×0 before its first frame; keep the default size until a frame says otherwise.
  if (width > 0 && height > 0) {
    c.width = width;
    c.height = height;
  }
  c.id = `canvas-${name}`; // same id in the raw and JPEG views: only one view of a feed exists at a time
  c.dataset.feed = name;
  return c;
}

// ---------------------------------------------------------------------------
// Base classes
// ---------------------------------------------------------------------------

export class View {
  /**
   * @param {object} feed  the /api/feeds entry
   * @param {HTMLElement} badge  the player's status badge (owned by the page, shared by successive views)
   * @param {'raw'|'jpeg'|'mjpeg'|'mp4'|'webcodecs'|'ts'} view
   */
  constructor(feed, badge, view) {
    this.name = feed.name;
    this.feed = feed;
    this.badge = badge;
    this.stopped = false;
    this.drawTimes = [];
    this.statsEl = el('figcaption', 'stats');
    this.nodes = [this.statsEl]; // subclasses put their canvas or img first
    // The object tests read; mutated in place so a reference stays live
    // (a view switch makes a new one: counters of another view would mislead).
    this.state = {
      view,
      canvas: null,
      img: null,
      frames: 0,          // frames drawn
      received: 0,        // frames received (drawn or not)
      lastCounter: null,  // probe counter of the last drawn frame
      fps: 0,             // frames drawn in the last second
      receivedFps: 0,     // frames received in the last second
      latencyMs: null,    // now - capture time of the last drawn frame
      skipped: 0,         // counter gaps + frames replaced before being drawn
      renderer: null,
      connected: false,
      status: 'connecting…',
      error: null,
    };
    this.setStatus(this.state.status); // the badge may still show the previous view's status
  }

  setStatus(text, isError = false) {
    this.state.status = text;
    this.badge.textContent = text;
    this.badge.classList.toggle('error', isError);
    this.badge.classList.toggle('live', text === 'live');
  }

  /** Records a frame as drawn: counters, latency, and clears a past error. */
  drawn(probe, now) {
    const s = this.state;
    s.frames++;
    this.drawTimes.push(now);
    s.lastCounter = probe ? probe.counter : null;
    s.latencyMs = latencyOf(probe);
    if (s.error) {
      s.error = null;
      this.setStatus('live');
    }
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
    this.feed = feed;
  }

  stop() {
    this.stopped = true;
    for (const n of this.nodes) n.remove();
  }
}

/** A view fed by a WebSocket of binary frames, reconnecting with BACKOFF_MS. */
export class SocketView extends View {
  constructor(feed, badge, view) {
    super(feed, badge, view);
    this.ws = null;
    this.attempt = 0;         // index into BACKOFF_MS
    this.retryTimer = 0;
    this.lastRecvCounter = null;
    this.framesThisConnection = 0;
    this.recvTimes = [];
  }

  get url() {
    return wsUrl(this.path);
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
    ws.onmessage = (e) => {
      // Text messages are not frames; the H.264 views take their codec configuration from them.
      if (e.data instanceof ArrayBuffer) this.onFrame(e.data);
      else this.onText(e.data);
    };
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

  /** A text message; the raw and JPEG endpoints send none. */
  onText() {}

  /** Counts a received frame, and the frames the probe counter says never arrived. */
  received(probe) {
    const s = this.state;
    s.received++;
    this.framesThisConnection++;
    this.recvTimes.push(performance.now());
    if (probe) {
      if (this.lastRecvCounter !== null && probe.counter > this.lastRecvCounter + 1) {
        s.skipped += probe.counter - this.lastRecvCounter - 1; // lost before reaching us
      }
      this.lastRecvCounter = probe.counter;
    }
  }

  updateRates(now) {
    this.state.fps = perSecond(this.drawTimes, now);
    this.state.receivedFps = perSecond(this.recvTimes, performance.now());
  }

  update(feed) {
    const oldUrl = this.url;
    super.update(feed);
    // If the endpoint moved, drop the socket; onclose reconnects to the new one.
    if (this.ws && this.url !== oldUrl) this.ws.close();
  }

  stop() {
    super.stop();
    clearTimeout(this.retryTimer);
    if (this.ws) this.ws.close();
  }
}

// ---------------------------------------------------------------------------
// Raw YUYV over WebSocket
// ---------------------------------------------------------------------------

/**
 * Picks the renderer for a raw view. Each attempt gets a fresh canvas: a canvas
 * that was asked for a WebGL context is not guaranteed to hand out a 2D one.
 * @param {'auto'|'2d'|'webgl'} mode
 */
function createRenderer(name, width, height, mode) {
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
  if (mode !== '2d') {
    const gl = attempt(createWebglRenderer);
    if (gl.renderer) return gl;
    if (mode === 'webgl') {
      return { renderer: null, canvas: gl.canvas, error: `WebGL is unavailable (forced by ?renderer=webgl)${gl.error ? ': ' + gl.error : ''}` };
    }
  }
  return attempt(create2dRenderer);
}

export class RawView extends SocketView {
  constructor(feed, badge, rendererMode) {
    super(feed, badge, 'raw');
    this.pending = null; // newest undrawn frame: { data, probe }
    this.lastStats = 0;

    const { renderer, canvas, error } = createRenderer(feed.name, feed.width, feed.height, rendererMode);
    canvas.dataset.view = 'raw';
    this.renderer = renderer;
    this.nodes.unshift(canvas);
    Object.assign(this.state, { canvas, renderer: renderer ? renderer.kind : null, error: error || null });

    this.renderStats();
    if (!renderer) {
      this.setStatus(error || 'no renderer available', true);
      return;
    }
    this.connect();
    this.raf = requestAnimationFrame((t) => this.tick(t));
  }

  get path() {
    return this.feed.endpoints?.raw ?? `/ws/${feedPath(this.name)}/raw`;
  }

  onFrame(data) {
    const probe = readProbe(data);
    this.received(probe);
    // Only the newest frame is drawn, at the next animation frame; one still waiting is dropped.
    if (this.pending) this.state.skipped++;
    this.pending = { data, probe };
  }

  tick(now) {
    if (this.stopped) return;
    this.raf = requestAnimationFrame((t) => this.tick(t));
    if (this.pending) {
      const { data, probe } = this.pending;
      this.pending = null;
      const size = this.frameSize(data, probe);
      if (size) {
        this.renderer.draw(new Uint8Array(data), size.width, size.height);
        this.drawn(probe, now);
      } else {
        this.state.error = `unexpected frame size (${data.byteLength} bytes)`;
        this.setStatus(this.state.error, true);
      }
    }
    this.updateRates(now);
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

  stop() {
    super.stop();
    cancelAnimationFrame(this.raf);
    this.pending = null;
  }
}

// ---------------------------------------------------------------------------
// JPEG over WebSocket
// ---------------------------------------------------------------------------

export class JpegView extends SocketView {
  constructor(feed, badge) {
    super(feed, badge, 'jpeg');
    this.decoding = false; // one decode at a time: decoding a backlog only adds latency
    this.pending = null;   // newest frame that arrived during a decode: { data, probe }

    const canvas = newCanvas(feed.name, feed.width, feed.height);
    canvas.dataset.view = 'jpeg';
    this.ctx = canvas.getContext('2d');
    this.nodes.unshift(canvas);
    Object.assign(this.state, { canvas, renderer: '2d' });

    this.renderStats();
    this.connect();
    // Decoding is driven by arrivals, not by animation frames, so the rates get their own timer.
    this.statsTimer = setInterval(() => {
      this.updateRates(performance.now());
      this.renderStats();
    }, STATS_EVERY_MS);
  }

  get path() {
    return this.feed.endpoints?.jpeg ?? `/ws/${feedPath(this.name)}/jpeg`;
  }

  onFrame(data) {
    const frame = { data, probe: readJpegProbe(data) };
    this.received(frame.probe);
    if (!this.decoding) {
      this.decode(frame);
      return;
    }
    if (this.pending) this.state.skipped++; // replaced before it was decoded
    this.pending = frame;
  }

  async decode(frame) {
    this.decoding = true;
    try {
      const bitmap = await createImageBitmap(new Blob([frame.data], { type: 'image/jpeg' }));
      try {
        if (!this.stopped) this.draw(bitmap, frame.probe);
      } finally {
        bitmap.close(); // frees the decoded pixels now rather than at garbage collection
      }
    } catch (e) {
      // A corrupt or truncated JPEG: say so, and carry on with the next one.
      this.state.error = `cannot decode JPEG: ${e.message || e}`;
      if (!this.stopped) this.setStatus(this.state.error, true);
    }
    this.decoding = false;
    const next = this.pending;
    this.pending = null;
    if (next && !this.stopped) this.decode(next);
  }

  draw(bitmap, probe) {
    const canvas = this.state.canvas;
    if (canvas.width !== bitmap.width || canvas.height !== bitmap.height) {
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
    }
    this.ctx.drawImage(bitmap, 0, 0);
    this.drawn(probe, performance.now());
  }

  stop() {
    super.stop();
    clearInterval(this.statsTimer);
    this.pending = null;
  }
}

// ---------------------------------------------------------------------------
// MJPEG in an <img>
// ---------------------------------------------------------------------------

/**
 * The browser decodes the multipart stream itself and tells the page nothing
 * per frame, so there is no counter, latency or skip count here: fps is the
 * server's measuredFps, polled from /api/feeds/{feed}.
 */
export class MjpegView extends View {
  constructor(feed, badge) {
    super(feed, badge, 'mjpeg');
    this.attempt = 0;
    this.retryTimer = 0;
    this.pollTimer = 0;
    this.serverDown = false;

    const img = el('img');
    img.id = `img-${feed.name}`;
    img.dataset.feed = feed.name;
    img.dataset.view = 'mjpeg';
    img.alt = `${feed.name} (MJPEG)`;
    // 'load' comes when the first part has been decoded; it does not come again
    // per part, so it only tells that the stream works.
    img.onload = () => {
      this.state.frames++;
      this.state.connected = true;
      this.attempt = 0;
      this.setStatus('live');
    };
    img.onerror = () => this.retry();
    this.img = img;
    this.nodes.unshift(img);
    Object.assign(this.state, { img, renderer: 'img' });

    img.src = this.path;
    this.renderStats();
    this.poll();
  }

  get path() {
    return this.feed.endpoints?.mjpeg ?? `/mjpeg/${feedPath(this.name)}`;
  }

  /** Starts the stream again; the query makes sure the browser does not reuse anything cached. */
  reload() {
    clearTimeout(this.retryTimer);
    this.retryTimer = 0;
    const path = this.path;
    this.img.src = `${path}${path.includes('?') ? '&' : '?'}t=${Date.now()}`;
  }

  retry() {
    if (this.stopped || this.retryTimer) return;
    this.state.connected = false;
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.setStatus('reconnecting…');
    this.retryTimer = setTimeout(() => this.reload(), delay);
  }

  async poll() {
    try {
      const res = await fetch(`/api/feeds/${feedPath(this.name)}`, { cache: 'no-store' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const f = await res.json();
      if (this.stopped) return;
      this.state.fps = typeof f.measuredFps === 'number' ? f.measuredFps : 0;
      // A server restart ends the multipart response without an error event
      // (the <img> just keeps its last picture), so start the stream again
      // when the server answers after having been unreachable.
      if (this.serverDown) {
        this.serverDown = false;
        this.reload();
      }
    } catch {
      this.serverDown = true;
      this.state.fps = 0;
    }
    if (this.stopped) return;
    this.renderStats();
    // Scheduled after completion so a slow server never gets overlapping polls.
    this.pollTimer = setTimeout(() => this.poll(), POLL_MS);
  }

  renderStats() {
    const fps = Math.round(this.state.fps * 10) / 10;
    this.statsEl.textContent = `${fps} fps (measured by the server) · decoded by the browser: no per-frame counters`;
  }

  update(feed) {
    const old = this.path;
    super.update(feed);
    if (this.path !== old) this.reload();
  }

  stop() {
    super.stop();
    clearTimeout(this.retryTimer);
    clearTimeout(this.pollTimer);
    this.img.onload = this.img.onerror = null;
    // Removing the element does not end the multipart response; dropping the
    // source does, so the server stops sending to nobody.
    this.img.removeAttribute('src');
  }
}
