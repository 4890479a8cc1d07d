// MPEG-TS view of the Osprey page:
//   TsView - /ws/{feed}/ts (a feed or a stream) played by jsmpeg: MPEG-1 video and MP2 audio decoded in
//            JavaScript, drawn on a canvas (WebGL, or 2D with ?renderer=2d).
//
// jsmpeg is vendored at build time (vendor/jsmpeg/jsmpeg.min.js, MIT, see vendor/jsmpeg/LICENSE) and loaded
// on the first TS view only. It runs as vw's and jsmpeg's own pages run it: JSMpeg.Player with a ws:// URL,
// its own WebSocket client (which offers the 'null' subprotocol), its own reconnect every RECONNECT_S. This
// view only counts what passes through the player for window.osprey.players[feed].
//
// Wire format (from the server): binary messages of whole 188-byte TS packets, first the feed's PAT and PMT,
// then packets from a sequence header on, so the decoder starts at once.

import { feedPath, perSecond, newCanvas, View, STATS_EVERY_MS, wsUrl } from './players.js';

const JSMPEG_URL = 'vendor/jsmpeg/jsmpeg.min.js';
const RECONNECT_S = 2;

let loading = null;

/** Loads jsmpeg once (a classic script that defines the global JSMpeg). */
export function loadJsmpeg() {
  if (window.JSMpeg) return Promise.resolve(window.JSMpeg);
  loading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = JSMPEG_URL;
    script.onload = () => (window.JSMpeg ? resolve(window.JSMpeg) : reject(new Error(`${JSMPEG_URL} did not define JSMpeg`)));
    script.onerror = () => {
      loading = null; // let a later view try again
      script.remove();
      reject(new Error(`cannot load ${JSMPEG_URL}`));
    };
    document.head.append(script);
  });
  return loading;
}

export class TsView extends View {
  /** @param {'auto'|'2d'|'webgl'} rendererMode */
  constructor(feed, badge, rendererMode) {
    super(feed, badge, 'ts');
    this.rendererMode = rendererMode;
    this.player = null;
    this.everOpen = false;   // a closed socket after an open one means reconnecting, not connecting
    this.recvTimes = [];
    this.rateMark = { time: performance.now(), bytes: 0 };

    const canvas = newCanvas(feed.name, feed.width, feed.height);
    canvas.dataset.view = 'ts';
    // Browsers start sound only after a user gesture; jsmpeg's audio context waits for this click.
    canvas.onclick = () => this.player?.audioOut?.context?.resume?.();
    this.canvas = canvas;
    this.nodes.unshift(canvas);
    Object.assign(this.state, {
      canvas,
      bytes: 0,       // MPEG-TS bytes received
      messages: 0,    // WebSocket messages received (also counted as `received`)
      kbps: 0,        // kbit/s received over the last second or so
      width: 0,       // picture size, from the MPEG-1 sequence header
      height: 0,
      audio: null,    // the audio context's state ('suspended' until a click, 'running') once MP2 audio arrived
    });

    this.renderStats();
    // Closing the socket while the tab is hidden saves the server's bandwidth and, on return, starts again
    // from the next sequence header instead of working through a backlog.
    this.onVisibility = () => {
      if (document.hidden) this.stopPlayer();
      else if (!this.player && !this.stopped && window.JSMpeg) this.startPlayer();
    };
    document.addEventListener('visibilitychange', this.onVisibility);
    this.statsTimer = setInterval(() => this.tick(), STATS_EVERY_MS);
    loadJsmpeg().then(
      () => {
        if (!this.stopped && !document.hidden) this.startPlayer();
      },
      (e) => this.fail(e.message),
    );
  }

  get path() {
    return this.feed.endpoints?.ts ?? `/ws/${feedPath(this.name)}/ts`;
  }

  startPlayer() {
    const JSMpeg = window.JSMpeg;
    if (this.rendererMode === 'webgl' && !JSMpeg.Renderer.WebGL.IsSupported()) {
      this.fail('WebGL is unavailable (forced by ?renderer=webgl)');
      return;
    }
    let player;
    try {
      player = new JSMpeg.Player(wsUrl(this.path), {
        canvas: this.canvas,
        disableGl: this.rendererMode === '2d',
        preserveDrawingBuffer: true, // lets tests (and screenshots) read the picture after compositing
        reconnectInterval: RECONNECT_S,
        pauseWhenHidden: false,      // handled above, by closing the connection
      });
    } catch (e) {
      this.fail(`jsmpeg: ${e.message || e}`);
      return;
    }
    this.player = player;
    this.state.renderer = player.renderer instanceof JSMpeg.Renderer.WebGL ? 'webgl' : '2d';

    // The socket hands each message to the demuxer and the decoder each picture to the renderer, both looked
    // up at call time, so wrapping them on the instances counts every message and every drawn picture.
    const demuxer = player.demuxer;
    const write = demuxer.write.bind(demuxer);
    demuxer.write = (buffer) => {
      this.receivedBytes(buffer.byteLength);
      write(buffer);
    };
    const renderer = player.renderer;
    if (renderer) {
      const render = renderer.render.bind(renderer);
      renderer.render = (...planes) => {
        render(...planes);
        // The size with the picture, not at the next stats tick: whoever sees a frame counted sees its size.
        if (player.video?.width) {
          this.state.width = player.video.width;
          this.state.height = player.video.height;
        }
        this.drawn(null, performance.now());
      };
    }
  }

  /** Stops the player for good: no reconnect, socket closed, GL objects and audio released. */
  stopPlayer() {
    const p = this.player;
    if (!p) return;
    this.player = null;
    // Not p.destroy(): this jsmpeg build's destroy throws when there is no audio output.
    cancelAnimationFrame(p.animationId);
    p.wantsToPlay = false;
    p.source.destroy();
    try {
      p.renderer?.destroy();
      p.audioOut?.destroy();
    } catch (e) {
      console.warn('osprey: jsmpeg teardown', e);
    }
    this.state.connected = false;
  }

  receivedBytes(n) {
    const s = this.state;
    s.bytes += n;
    s.messages++;
    s.received++;
    this.recvTimes.push(performance.now());
  }

  fail(message) {
    this.state.error = message;
    this.setStatus(message, true);
  }

  tick() {
    const now = performance.now();
    const s = this.state;
    const p = this.player;
    const open = p?.source?.socket?.readyState === WebSocket.OPEN;
    s.connected = open;
    if (open) this.everOpen = true;
    if (!s.error) {
      const status = open ? 'live' : !p ? (document.hidden ? 'paused (hidden)' : 'connecting…') : this.everOpen ? 'reconnecting…' : 'connecting…';
      if (status !== s.status) this.setStatus(status);
    }
    if (p?.video?.width) {
      s.width = p.video.width;
      s.height = p.video.height;
    }
    s.audio = p?.audio?.canPlay ? p.audioOut?.context?.state ?? null : null;
    s.fps = perSecond(this.drawTimes, now);
    s.receivedFps = perSecond(this.recvTimes, now);
    if (now - this.rateMark.time >= 1000) {
      s.kbps = Math.round(((s.bytes - this.rateMark.bytes) * 8) / (now - this.rateMark.time));
      this.rateMark = { time: now, bytes: s.bytes };
    }
    this.renderStats();
  }

  renderStats() {
    const s = this.state;
    const size = s.width ? `${s.width}×${s.height}` : '–';
    const audio = s.audio === 'suspended' ? ' · sound: click the picture' : s.audio ? ` · sound ${s.audio}` : '';
    this.statsEl.textContent =
      `${s.fps} fps · ${size} · ${s.kbps} kbit/s · ${s.messages} messages · ` +
      `renderer ${s.renderer ?? 'none'} · MPEG-1 decoded in JavaScript (jsmpeg)${audio}`;
  }

  update(feed) {
    const old = this.path;
    super.update(feed);
    if (this.path !== old && this.player) {
      this.stopPlayer();
      this.startPlayer();
    }
  }

  stop() {
    super.stop();
    clearInterval(this.statsTimer);
    document.removeEventListener('visibilitychange', this.onVisibility);
    this.stopPlayer();
  }
}
