// <osprey-player src="feed">: an Osprey feed in the best protocol this browser and the server share, from any page.
//
//   <script src="http://osprey:8080/osprey-player.js"></script>
//   <osprey-player src="cam" stats></osprey-player>
//
// Attributes: src (the feed), server (Osprey's origin; default: where this script came from), token (a token from
// POST /api/auth/token, sent as ?token=), protocols (the order to try, comma-separated; default
// webrtc,mse,webcodecs,hls,jpeg,mjpeg), stats (show the overlay), nocontrols.
//
// It asks /api/feeds/{feed} what the server offers (when the page's origin may: CORS), keeps the protocols the
// browser can play, and tries them in order: the first to show a picture within a few seconds plays; one that
// fails is remembered for a while (sessionStorage) and skipped. A drop reconnects with backoff, from the top of
// the list, so a better protocol that came back is used again. MSE stays near the live edge (a faster
// playbackRate past 0.5 s behind, a jump past 3 s). Hidden tabs stop their sockets. Dependency-free, a classic
// script (no module, no CORS needed to load it), everything in an open shadow root.
//
// For scripts and tests: element.protocol, element.stats (a live object), element.media (the <video>, <canvas> or
// <img>), the 'protocol' and 'statechange' events, and the host attributes data-protocol and data-status.
(() => {
  'use strict';
  if (window.customElements?.get('osprey-player')) return;

  const SCRIPT_ORIGIN = (() => {
    try {
      return new URL(document.currentScript?.src || location.href).origin;
    } catch {
      return location.origin;
    }
  })();

  const ALL = ['webrtc', 'mse', 'webcodecs', 'hls', 'jpeg', 'mjpeg'];
  const LABELS = {
    webrtc: 'WebRTC (WHEP)',
    mse: 'MSE (fragmented MP4 over WebSocket)',
    webcodecs: 'WebCodecs (H.264 over WebSocket)',
    hls: 'HLS',
    jpeg: 'JPEG over WebSocket',
    mjpeg: 'MJPEG',
  };
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const FIRST_FRAME_MS = 10000;    // a protocol that shows nothing in this long has failed
  const BAD_FOR_MS = 60000;        // a protocol that failed is skipped this long (unless nothing else is left)
  const CATCH_UP_S = 0.5;          // MSE: behind the live edge by more than this, play faster
  const JUMP_S = 3;                // MSE: behind by more than this, jump to the edge
  const KEEP_BUFFER_S = 10;        // MSE: buffer kept behind the playhead
  const MAX_QUEUE = 120;           // MSE: segments waiting to be appended, past which the queue restarts at a key frame
  const MAX_DECODE_QUEUE = 30;     // WebCodecs: past this, skip to the next key frame

  const feedPath = (name) => name.split('/').map(encodeURIComponent).join('/');

  /** The probe Osprey puts in its JPEGs (a COM segment right after SOI): capture time in µs, or null. */
  function jpegCaptureMicros(buffer) {
    if (buffer.byteLength < 38) return null;
    const b = new Uint8Array(buffer, 0, 6);
    if (b[0] !== 0xff || b[1] !== 0xd8 || b[2] !== 0xff || b[3] !== 0xfe || b[4] !== 0 || b[5] !== 0x22) return null;
    const dv = new DataView(buffer, 6, 32);
    if (dv.getUint32(0, false) !== 0x464f5554) return null;
    return dv.getUint32(8, true) + dv.getUint32(12, true) * 4294967296;
  }

  const mediaSourceClass = () => window.ManagedMediaSource || window.MediaSource;

  /** What this browser can play at all, per protocol. */
  function browserCan(protocol) {
    switch (protocol) {
      case 'webrtc': return typeof RTCPeerConnection === 'function';
      case 'mse': {
        const MS = mediaSourceClass();
        return typeof MS === 'function' && typeof MS.isTypeSupported === 'function' && MS.isTypeSupported('video/mp4; codecs="avc1.42E01E"');
      }
      case 'webcodecs': return typeof VideoDecoder === 'function' && typeof EncodedVideoChunk === 'function';
      case 'hls': return document.createElement('video').canPlayType('application/vnd.apple.mpegurl') !== '';
      case 'jpeg': return typeof WebSocket === 'function' && typeof createImageBitmap === 'function';
      case 'mjpeg': return true;
      default: return false;
    }
  }

  /** Whether the server offers a protocol for the feed, from its /api/feeds entry (null: not known, try it). */
  function serverOffers(feed, protocol) {
    if (!feed) return true;
    const e = feed.endpoints || {};
    switch (protocol) {
      case 'webrtc': return !!(e.whep || e.webrtc);
      case 'mse': return !!e.mp4;
      case 'webcodecs': return !!e.h264;
      case 'hls': return !!e.hls;
      case 'jpeg': return !!e.jpeg;
      case 'mjpeg': return !!e.mjpeg;
      default: return false;
    }
  }

  const STYLE = `
    :host { display: inline-block; position: relative; background: #000; color: #fff; font: 12px/1.4 system-ui, sans-serif;
            max-width: 100%; overflow: hidden; }
    :host([hidden]) { display: none; }
    .stage { position: relative; width: 100%; height: 100%; }
    video, canvas, img { display: block; width: 100%; height: auto; max-height: 100%; object-fit: contain; background: #000; }
    :host(:fullscreen) video, :host(:fullscreen) canvas, :host(:fullscreen) img { width: 100%; height: 100%; }
    .bar { position: absolute; left: 0; right: 0; bottom: 0; display: flex; gap: 4px; align-items: center; padding: 4px 6px;
           background: linear-gradient(transparent, rgba(0,0,0,.65)); opacity: 0; transition: opacity .2s; }
    :host(:hover) .bar, .bar:focus-within, :host([data-status="error"]) .bar { opacity: 1; }
    .bar button { font: inherit; color: #fff; background: rgba(255,255,255,.15); border: 1px solid rgba(255,255,255,.3);
                  border-radius: 4px; padding: 2px 8px; cursor: pointer; }
    .bar .what { margin-right: auto; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .status { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center; text-align: center;
              padding: 1em; pointer-events: none; background: rgba(0,0,0,.35); }
    .status:empty { display: none; }
    .stats { position: absolute; left: 6px; top: 6px; padding: 4px 6px; background: rgba(0,0,0,.6); border-radius: 4px;
             white-space: pre; font: 11px/1.35 ui-monospace, monospace; pointer-events: none; }
    .stats[hidden] { display: none; }
  `;

  // ---------------------------------------------------------------------------------------------------------
  // Protocols. Each: constructor(player), start(), stop(), media (the element it draws into), and it calls
  // player.frame(bytes, delayMs) for each picture, player.failed(reason) once when it stops working.
  // ---------------------------------------------------------------------------------------------------------

  class Protocol {
    constructor(player) {
      this.p = player;
      this.stopped = false;
      this.media = null;
    }

    fail(reason) {
      if (this.stopped) return;
      this.stop();
      this.p.failed(this, reason);
    }

    stop() {
      this.stopped = true;
    }

    /** Frames and drops of a <video> since the last call, for the stats (MSE, HLS, WebRTC). */
    videoQuality() {
      const q = this.media?.getVideoPlaybackQuality?.();
      return q ? { frames: q.totalVideoFrames, drops: q.droppedVideoFrames } : null;
    }
  }

  function newVideo() {
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.disablePictureInPicture = false;
    v.setAttribute('playsinline', '');
    return v;
  }

  /** Watches a <video> for pictures: every new frame counts (requestVideoFrameCallback where there is one). */
  function watchVideo(proto, v) {
    let last = -1;
    const tick = () => {
      if (proto.stopped) return;
      if (v.readyState >= 2 && v.videoWidth > 0 && v.currentTime !== last) {
        last = v.currentTime;
        proto.p.frame(0, proto.delayMs?.() ?? null);
      }
      if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(tick);
      else setTimeout(tick, 100);
    };
    if (v.requestVideoFrameCallback) v.requestVideoFrameCallback(tick);
    else setTimeout(tick, 100);
    v.addEventListener('error', () => proto.fail(`video error ${v.error?.code ?? ''} ${v.error?.message ?? ''}`.trim()));
  }

  class WebRtcProtocol extends Protocol {
    start() {
      const v = (this.media = newVideo());
      const pc = (this.pc = new RTCPeerConnection());
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.addTransceiver('audio', { direction: 'recvonly' });
      const stream = new MediaStream();
      pc.ontrack = (e) => {
        stream.addTrack(e.track);
        v.srcObject = stream;
        v.play().catch(() => {});
      };
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.fail(`WebRTC connection ${pc.connectionState}`);
      };
      watchVideo(this, v);
      this.negotiate().catch((e) => this.fail(`WHEP: ${e.message || e}`));
      this.lastStats = null;
    }

    async negotiate() {
      const pc = this.pc;
      await pc.setLocalDescription(await pc.createOffer());
      // Wait for the candidates (up to 2 s), so that the one offer has them: WHEP without trickle.
      await new Promise((resolve) => {
        if (pc.iceGatheringState === 'complete') return resolve();
        const t = setTimeout(resolve, 2000);
        pc.addEventListener('icegatheringstatechange', () => {
          if (pc.iceGatheringState === 'complete') {
            clearTimeout(t);
            resolve();
          }
        });
      });
      if (this.stopped) return;
      const url = this.p.url(`/${feedPath(this.p.feedName)}/whep`);
      const response = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
      if (!response.ok) throw new Error(`POST ${response.status}`);
      const location = response.headers.get('Location');
      if (location) this.resource = new URL(location, url).href;
      const answer = await response.text();
      if (this.stopped) return;
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    }

    async readStats() {
      if (!this.pc) return null;
      const report = await this.pc.getStats();
      let out = null;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') {
          out = { bytes: s.bytesReceived, drops: (s.framesDropped || 0) + (s.packetsLost || 0),
                  delayMs: s.jitterBufferEmittedCount ? (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount : null };
        }
      });
      return out;
    }

    stop() {
      super.stop();
      if (this.resource) fetch(this.resource, { method: 'DELETE' }).catch(() => {});
      this.pc?.close();
      if (this.media) this.media.srcObject = null;
    }
  }

  class HlsProtocol extends Protocol {
    start() {
      const v = (this.media = newVideo());
      watchVideo(this, v);
      v.src = this.p.url(`/hls/${feedPath(this.p.feedName)}/index.m3u8`);
      v.play().catch(() => {});
      this.delayMs = () => {
        // Behind the live edge of the seekable range (what the playlist lets it play).
        const s = v.seekable;
        return s.length ? Math.max(0, (s.end(s.length - 1) - v.currentTime) * 1000) : null;
      };
    }

    stop() {
      super.stop();
      if (this.media) {
        this.media.removeAttribute('src');
        this.media.load();
      }
    }
  }

  /** A protocol over one WebSocket of binary messages (text messages are configuration). */
  class SocketProtocol extends Protocol {
    open(path) {
      const ws = (this.ws = new WebSocket(this.p.wsUrl(path)));
      ws.binaryType = 'arraybuffer';
      ws.onmessage = (e) => {
        if (this.stopped) return;
        if (e.data instanceof ArrayBuffer) {
          this.p.bytes += e.data.byteLength;
          this.onBinary(e.data);
        } else this.onText(e.data);
      };
      ws.onclose = (e) => this.fail(`socket closed${e.code ? ` (${e.code}${e.reason ? ': ' + e.reason : ''})` : ''}`);
    }

    onText() {}

    stop() {
      super.stop();
      try {
        this.ws?.close();
      } catch {
        // closing a socket that never opened
      }
    }
  }

  class MseProtocol extends SocketProtocol {
    start() {
      const MS = mediaSourceClass();
      const v = (this.media = newVideo());
      if (window.ManagedMediaSource && MS === window.ManagedMediaSource) v.disableRemotePlayback = true; // iOS needs it for ManagedMediaSource
      this.ms = new MS();
      this.sb = null;
      this.mime = null;
      this.queue = [];
      this.ms.addEventListener('sourceopen', () => this.pump(), { once: true });
      v.src = URL.createObjectURL(this.ms);
      watchVideo(this, v);
      this.delayMs = () => this.behind() * 1000;
      this.open(`/ws/${feedPath(this.p.feedName)}/mp4`);
      this.timer = setInterval(() => this.keepLive(), 250);
    }

    onText(text) {
      if (this.sb && this.mime && this.mime !== text) {
        // A new codec string: start over (a new MediaSource) with what comes next.
        this.fail('codec changed');
        return;
      }
      this.mime = text;
    }

    onBinary(data) {
      if (this.queue.length > MAX_QUEUE) {
        // Appending cannot keep up: drop what waits, keep the init segment, resume at a key frame (the next init).
        this.p.stats.drops += this.queue.length;
        this.queue.length = 0;
      }
      this.queue.push(data);
      this.pump();
    }

    pump() {
      if (this.stopped || this.ms.readyState !== 'open') return;
      try {
        if (!this.sb) {
          if (!this.mime) return;
          if (!mediaSourceClass().isTypeSupported(this.mime)) throw new Error(`cannot play ${this.mime}`);
          this.sb = this.ms.addSourceBuffer(this.mime);
          this.sb.mode = 'sequence'; // a viewer moved on to a later key frame sees no gap
          this.sb.addEventListener('updateend', () => this.pump());
          this.sb.addEventListener('error', () => this.fail('SourceBuffer error'));
        }
        if (this.sb.updating || !this.queue.length) return;
        const v = this.media;
        const b = this.sb.buffered;
        if (b.length && v.currentTime - b.start(0) > KEEP_BUFFER_S * 2) {
          this.sb.remove(0, v.currentTime - KEEP_BUFFER_S);
          return;
        }
        this.sb.appendBuffer(this.queue.shift());
      } catch (e) {
        this.fail(`MSE: ${e.message || e}`);
      }
    }

    /** Seconds between the playhead and the end of what is buffered. */
    behind() {
      const b = this.sb?.buffered;
      return b && b.length ? Math.max(0, b.end(b.length - 1) - this.media.currentTime) : 0;
    }

    keepLive() {
      if (this.stopped || !this.sb) return;
      const v = this.media;
      const b = this.sb.buffered;
      if (!b.length) return;
      const end = b.end(b.length - 1);
      const lag = end - v.currentTime;
      if (lag > JUMP_S || v.currentTime < b.start(0)) {
        v.currentTime = Math.max(b.start(b.length - 1), end - 0.2);
        this.p.stats.jumps++;
      } else {
        // Faster in proportion to the lag, up to 1.5x; back to 1 near the edge.
        const rate = lag > CATCH_UP_S ? Math.min(1.5, 1 + (lag - CATCH_UP_S) * 0.4 + 0.05) : lag < CATCH_UP_S * 0.6 ? 1 : v.playbackRate;
        if (Math.abs(v.playbackRate - rate) > 0.01) v.playbackRate = rate;
      }
      this.p.stats.playbackRate = v.playbackRate;
      if (v.paused && v.readyState >= 2) v.play().catch(() => {});
    }

    stop() {
      super.stop();
      clearInterval(this.timer);
      if (this.media) {
        URL.revokeObjectURL(this.media.src);
        this.media.removeAttribute('src');
        this.media.load();
      }
    }
  }

  class WebCodecsProtocol extends SocketProtocol {
    start() {
      const c = (this.media = document.createElement('canvas'));
      this.ctx = c.getContext('2d');
      this.config = null;
      this.decoder = null;
      this.waitKey = true;
      this.pending = null;
      this.open(`/ws/${feedPath(this.p.feedName)}/h264`);
      const draw = () => {
        if (this.stopped) return;
        const f = this.pending;
        if (f) {
          this.pending = null;
          if (c.width !== f.displayWidth || c.height !== f.displayHeight) {
            c.width = f.displayWidth;
            c.height = f.displayHeight;
          }
          this.ctx.drawImage(f, 0, 0);
          this.p.frame(0, f.timestamp > 1e12 ? Date.now() - f.timestamp / 1000 : null);
          f.close();
        }
        requestAnimationFrame(draw);
      };
      requestAnimationFrame(draw);
    }

    onText(text) {
      let c;
      try {
        c = JSON.parse(text);
      } catch {
        return;
      }
      if (!c.codec) return;
      const bin = c.description ? Uint8Array.from(atob(c.description), (ch) => ch.charCodeAt(0)) : undefined;
      this.config = { codec: c.codec, codedWidth: c.width || undefined, codedHeight: c.height || undefined, description: bin, optimizeForLatency: true };
      this.configure();
    }

    configure() {
      try {
        if (!this.decoder || this.decoder.state === 'closed') {
          this.decoder = new VideoDecoder({
            output: (frame) => {
              if (this.stopped) return frame.close();
              if (this.pending) {
                this.pending.close();
                this.p.stats.drops++;
              }
              this.pending = frame;
            },
            error: (e) => this.fail(`decoder: ${e.message || e}`),
          });
        }
        this.decoder.configure(this.config);
        this.waitKey = true;
      } catch (e) {
        this.fail(`decoder: ${e.message || e}`);
      }
    }

    onBinary(data) {
      if (data.byteLength < 10 || !this.config || !this.decoder || this.decoder.state !== 'configured') return;
      const dv = new DataView(data);
      const timestamp = dv.getUint32(0) * 4294967296 + dv.getUint32(4);
      const key = (dv.getUint8(8) & 1) === 1;
      if (!this.waitKey && !key && this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) this.waitKey = true;
      if (this.waitKey) {
        if (!key) {
          this.p.stats.drops++;
          return;
        }
        this.waitKey = false;
      }
      try {
        this.decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data: new Uint8Array(data, 9) }));
      } catch (e) {
        this.fail(`decoder: ${e.message || e}`);
      }
    }

    stop() {
      super.stop();
      this.pending?.close();
      if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
    }
  }

  class JpegProtocol extends SocketProtocol {
    start() {
      const c = (this.media = document.createElement('canvas'));
      this.ctx = c.getContext('2d');
      this.decoding = false;
      this.next = null;
      this.open(`/ws/${feedPath(this.p.feedName)}/jpeg`);
    }

    onBinary(data) {
      if (this.next) this.p.stats.drops++; // replaced before it was drawn
      this.next = data;
      if (!this.decoding) this.decode();
    }

    async decode() {
      while (this.next && !this.stopped) {
        const data = this.next;
        this.next = null;
        this.decoding = true;
        try {
          const bitmap = await createImageBitmap(new Blob([data], { type: 'image/jpeg' }));
          if (this.stopped) return bitmap.close();
          const c = this.media;
          if (c.width !== bitmap.width || c.height !== bitmap.height) {
            c.width = bitmap.width;
            c.height = bitmap.height;
          }
          this.ctx.drawImage(bitmap, 0, 0);
          bitmap.close();
          const capture = jpegCaptureMicros(data);
          this.p.frame(0, capture ? Date.now() - capture / 1000 : null);
        } catch {
          this.p.stats.drops++;
        } finally {
          this.decoding = false;
        }
      }
    }
  }

  class MjpegProtocol extends Protocol {
    start() {
      const img = (this.media = document.createElement('img'));
      img.alt = '';
      img.decoding = 'async';
      // Each part replaces the picture; load fires for the first (and in Chromium for each) part.
      let shown = false;
      img.onload = () => {
        shown = true;
        this.p.frame(0, null);
      };
      img.onerror = () => this.fail(shown ? 'MJPEG stream ended' : 'MJPEG refused');
      // Chromium fires load once for a multipart stream: count pictures by polling the decoded size.
      this.timer = setInterval(() => {
        if (shown && img.naturalWidth > 0) this.p.frame(0, null, true);
      }, 1000);
      img.src = this.p.url(`/mjpeg/${feedPath(this.p.feedName)}`);
    }

    stop() {
      super.stop();
      clearInterval(this.timer);
      if (this.media) this.media.src = 'data:,'; // ends the stream (a connection of the browser's six)
    }
  }

  const PROTOCOLS = { webrtc: WebRtcProtocol, mse: MseProtocol, webcodecs: WebCodecsProtocol, hls: HlsProtocol, jpeg: JpegProtocol, mjpeg: MjpegProtocol };

  // ---------------------------------------------------------------------------------------------------------
  // The element
  // ---------------------------------------------------------------------------------------------------------

  class OspreyPlayer extends HTMLElement {
    static get observedAttributes() {
      return ['src', 'server', 'token', 'protocols', 'stats'];
    }

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      const style = document.createElement('style');
      style.textContent = STYLE;
      this.stage = document.createElement('div');
      this.stage.className = 'stage';
      this.statusEl = document.createElement('div');
      this.statusEl.className = 'status';
      this.statusEl.setAttribute('role', 'status');
      this.statsEl = document.createElement('div');
      this.statsEl.className = 'stats';
      this.statsEl.hidden = true;
      this.bar = document.createElement('div');
      this.bar.className = 'bar';
      this.what = document.createElement('span');
      this.what.className = 'what';
      const button = (text, title, onclick) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = text;
        b.title = title;
        b.onclick = onclick;
        b.part = text;
        return b;
      };
      this.unmuteButton = button('unmute', 'Sound on (the player starts muted so that it may start by itself)', () => this.toggleMute());
      this.bar.append(
        this.what,
        this.unmuteButton,
        button('snapshot', 'Save the picture shown now as PNG', () => this.snapshot()),
        button('stats', 'Protocol, frames per second, bitrate, delay behind live, drops', () => this.toggleAttribute('stats')),
        button('fullscreen', 'Fill the screen (Esc leaves)', () => this.toggleFullscreen()));
      this.stage.append(this.statusEl, this.statsEl, this.bar);
      root.append(style, this.stage);
      this.impl = null;
      this.protocol = null;
      this.muted = true;
      this.attempt = 0;
      this.retryTimer = 0;
      this.generation = 0;
      this.bytes = 0;
      this.stats = this.freshStats();
      this.onVisibility = () => (document.hidden ? this.pause('paused while the page is hidden') : this.restart(0));
    }

    freshStats() {
      return { protocol: null, status: 'idle', reason: null, frames: 0, fps: 0, bitrateKbps: 0, delayMs: null, drops: 0,
               reconnects: 0, jumps: 0, playbackRate: 1, tried: [], failures: {}, candidates: [] };
    }

    /** The picture element of the protocol playing (or null). */
    get media() {
      return this.impl?.media ?? null;
    }

    get feedName() {
      return this.getAttribute('src') || '';
    }

    get base() {
      return (this.getAttribute('server') || SCRIPT_ORIGIN).replace(/\/+$/, '');
    }

    /** An HTTP URL on the server, with the token if there is one. */
    url(path) {
      const u = new URL(this.base + path);
      const token = this.getAttribute('token');
      if (token) u.searchParams.set('token', token);
      return u.href;
    }

    wsUrl(path) {
      const u = new URL(this.url(path));
      u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
      return u.href;
    }

    connectedCallback() {
      document.addEventListener('visibilitychange', this.onVisibility);
      this.bar.hidden = this.hasAttribute('nocontrols');
      this.statsTimer = setInterval(() => this.tickStats(), 1000);
      this.restart(0);
    }

    disconnectedCallback() {
      document.removeEventListener('visibilitychange', this.onVisibility);
      clearInterval(this.statsTimer);
      this.pause('stopped');
    }

    attributeChangedCallback(name, old, value) {
      if (name === 'stats') {
        this.statsEl.hidden = value === null;
        return;
      }
      if (old !== value && this.isConnected) {
        this.stats = this.freshStats();
        this.restart(0);
      }
    }

    setStatus(status, text, reason = null) {
      this.stats.status = status;
      this.stats.reason = reason;
      this.dataset.status = status;
      this.statusEl.textContent = text;
      this.dispatchEvent(new CustomEvent('statechange', { detail: { status, text, reason } }));
    }

    stopImpl() {
      const impl = this.impl;
      this.impl = null;
      if (impl) {
        impl.stop();
        impl.media?.remove();
      }
    }

    pause(text) {
      this.generation++;
      clearTimeout(this.retryTimer);
      clearTimeout(this.firstFrameTimer);
      this.stopImpl();
      this.setStatus('paused', text);
    }

    restart(delay) {
      this.generation++;
      const generation = this.generation;
      clearTimeout(this.retryTimer);
      clearTimeout(this.firstFrameTimer);
      this.stopImpl();
      if (document.hidden) {
        this.setStatus('paused', 'paused while the page is hidden');
        return;
      }
      this.retryTimer = setTimeout(() => this.begin(generation), delay);
    }

    /** The next delay of the reconnect backoff. */
    backoff() {
      return BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)];
    }

    memoryKey() {
      return `osprey-player:${this.base}:${this.feedName}`;
    }

    memory() {
      try {
        return JSON.parse(sessionStorage.getItem(this.memoryKey())) || { bad: {} };
      } catch {
        return { bad: {} };
      }
    }

    remember(update) {
      try {
        const m = this.memory();
        update(m);
        sessionStorage.setItem(this.memoryKey(), JSON.stringify(m));
      } catch {
        // no storage (a sandboxed frame): nothing is remembered
      }
    }

    async begin(generation) {
      if (!this.feedName) {
        this.setStatus('error', 'no feed: set src="feed"');
        return;
      }
      this.setStatus('connecting', 'connecting…');
      // The feed's entry says what the server offers; without it (another origin without CORS, an older server)
      // every protocol the browser has is tried.
      let feed = null;
      try {
        const r = await fetch(this.url(`/api/feeds/${feedPath(this.feedName)}`), { signal: AbortSignal.timeout(5000) });
        if (r.status === 404) {
          if (generation !== this.generation) return;
          this.setStatus('error', `no feed '${this.feedName}'`, 'not found');
          this.retryTimer = setTimeout(() => this.begin(generation), this.backoff());
          return;
        }
        if (r.ok) feed = await r.json();
      } catch {
        // Unreachable or refused by CORS: tell them apart with an opaque request (it fails only when unreachable).
        try {
          await fetch(this.url('/healthz'), { mode: 'no-cors', signal: AbortSignal.timeout(5000) });
        } catch {
          if (generation !== this.generation) return;
          const delay = this.backoff();
          this.setStatus('reconnecting', `server unreachable; again in ${Math.round(delay / 100) / 10} s`, 'unreachable');
          this.retryTimer = setTimeout(() => this.begin(generation), delay);
          return;
        }
      }
      if (generation !== this.generation) return;
      const order = (this.getAttribute('protocols') || ALL.join(',')).split(',').map((s) => s.trim()).filter((s) => PROTOCOLS[s]);
      let candidates = order.filter((p) => browserCan(p) && serverOffers(feed, p));
      const bad = this.memory().bad || {};
      const fresh = candidates.filter((p) => !(bad[p] && Date.now() - bad[p] < BAD_FOR_MS));
      if (fresh.length) candidates = fresh;
      this.stats.candidates = candidates;
      if (!candidates.length) {
        this.setStatus('error', `nothing this browser can play: the server offers ${feed ? Object.keys(feed.endpoints || {}).join(', ') || 'nothing' : 'unknown'} for '${this.feedName}'`, 'no protocol');
        this.retryTimer = setTimeout(() => this.begin(generation), this.backoff());
        return;
      }
      this.tryProtocol(generation, candidates, 0);
    }

    tryProtocol(generation, candidates, index) {
      if (generation !== this.generation) return;
      if (index >= candidates.length) {
        const delay = this.backoff();
        const why = candidates.map((p) => `${p}: ${this.stats.failures[p]}`).join('; ');
        this.setStatus('error', `nothing played (${why}); again in ${Math.round(delay / 100) / 10} s`, why);
        this.retryTimer = setTimeout(() => this.begin(generation), delay);
        return;
      }
      const protocol = candidates[index];
      this.stopImpl();
      const impl = new PROTOCOLS[protocol](this);
      impl.generation = generation;
      impl.candidates = candidates;
      impl.index = index;
      impl.played = false;
      this.impl = impl;
      this.stats.tried.push(protocol);
      this.setStatus('connecting', `connecting: ${LABELS[protocol]}…`);
      this.setProtocol(protocol);
      try {
        impl.start();
      } catch (e) {
        this.failed(impl, e.message || String(e));
        return;
      }
      if (impl.stopped) return;
      if (impl.media) {
        impl.media.part = 'media';
        this.stage.prepend(impl.media);
        impl.media.muted = this.muted;
      }
      this.firstFrameTimer = setTimeout(() => {
        if (this.impl === impl && !impl.played) impl.fail(`no picture within ${FIRST_FRAME_MS / 1000} s`);
      }, FIRST_FRAME_MS);
    }

    setProtocol(protocol) {
      if (this.protocol === protocol) return;
      this.protocol = protocol;
      this.stats.protocol = protocol;
      this.dataset.protocol = protocol;
      this.what.textContent = LABELS[protocol];
      this.what.title = `Playing over ${LABELS[protocol]}; tried in order: ${this.stats.candidates.join(' → ')}`;
      this.dispatchEvent(new CustomEvent('protocol', { detail: { protocol } }));
    }

    /** A picture was shown (called by the protocols). */
    frame(_bytes, delayMs, pollOnly = false) {
      const impl = this.impl;
      if (!impl) return;
      if (!pollOnly) this.stats.frames++;
      if (delayMs !== null && delayMs !== undefined && Number.isFinite(delayMs)) this.stats.delayMs = Math.round(delayMs);
      if (!impl.played) {
        impl.played = true;
        clearTimeout(this.firstFrameTimer);
        this.attempt = 0;
        this.remember((m) => {
          if (m.bad) delete m.bad[this.protocol];
          m.good = this.protocol;
        });
        this.setStatus('live', '');
      }
    }

    /** A protocol stopped working (called by the protocols): the next one, or a reconnect if it had played. */
    failed(impl, reason) {
      if (impl !== this.impl || impl.generation !== this.generation) return;
      const protocol = this.protocol;
      this.stats.failures[protocol] = reason;
      clearTimeout(this.firstFrameTimer);
      if (impl.played) {
        // It worked and dropped (the server restarted, the network went): reconnect, best protocol first.
        this.stats.reconnects++;
        const delay = this.backoff();
        this.stopImpl();
        this.setStatus('reconnecting', `${LABELS[protocol]} dropped (${reason}); reconnecting in ${Math.round(delay / 100) / 10} s`, reason);
        const generation = ++this.generation;
        this.retryTimer = setTimeout(() => this.begin(generation), delay);
        return;
      }
      this.remember((m) => {
        m.bad = m.bad || {};
        m.bad[protocol] = Date.now();
      });
      this.tryProtocol(impl.generation, impl.candidates, impl.index + 1);
    }

    async tickStats() {
      const s = this.stats;
      const impl = this.impl;
      const now = performance.now();
      const dt = this.lastTick ? (now - this.lastTick) / 1000 : 1;
      this.lastTick = now;
      let frames = s.frames;
      let bytes = this.bytes;
      const quality = impl?.videoQuality?.();
      if (quality) {
        frames = quality.frames;
        if (quality.drops > (this.lastVideoDrops ?? 0)) s.drops += quality.drops - (this.lastVideoDrops ?? 0);
        this.lastVideoDrops = quality.drops;
      }
      if (impl instanceof WebRtcProtocol) {
        const r = await impl.readStats().catch(() => null);
        if (r) {
          bytes = r.bytes;
          if (r.delayMs !== null) s.delayMs = Math.round(r.delayMs);
        }
      }
      if (impl?.delayMs && !(impl instanceof WebRtcProtocol)) s.delayMs = Math.round(impl.delayMs());
      if (this.lastFrames !== undefined && impl === this.lastImpl) {
        s.fps = Math.max(0, Math.round(((frames - this.lastFrames) / dt) * 10) / 10);
        s.bitrateKbps = Math.max(0, Math.round(((bytes - this.lastBytes) * 8) / 1000 / dt));
      } else {
        this.lastVideoDrops = quality?.drops ?? 0;
      }
      this.lastFrames = frames;
      this.lastBytes = bytes;
      this.lastImpl = impl;
      if (!this.statsEl.hidden) {
        this.statsEl.textContent =
          `${s.protocol ?? '–'} · ${s.status}\n` +
          `${s.fps} fps · ${s.bitrateKbps ? (s.bitrateKbps / 1000).toFixed(2) + ' Mbit/s' : '– Mbit/s'}\n` +
          `delay ${s.delayMs === null ? '–' : s.delayMs + ' ms'}${s.playbackRate !== 1 ? ` · rate ${s.playbackRate.toFixed(2)}` : ''}\n` +
          `drops ${s.drops} · reconnects ${s.reconnects}`;
        this.statsEl.title = 'delay: behind the newest frame the player holds (MSE, HLS), the jitter buffer (WebRTC), or since capture by the server clock (WebCodecs, JPEG)';
      }
    }

    toggleMute() {
      this.muted = !this.muted;
      if (this.media && 'muted' in this.media) this.media.muted = this.muted;
      this.unmuteButton.textContent = this.muted ? 'unmute' : 'mute';
    }

    toggleFullscreen() {
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      else this.requestFullscreen?.().catch(() => {});
    }

    /** The picture shown now as a PNG download (the server's /snapshot JPEG if the picture cannot be read). */
    snapshot() {
      const m = this.media;
      const a = document.createElement('a');
      a.download = `${this.feedName.replace(/\//g, '_')}-${new Date().toISOString().replace(/[:.]/g, '-')}.png`;
      try {
        const w = m.videoWidth || m.naturalWidth || m.width;
        const h = m.videoHeight || m.naturalHeight || m.height;
        const c = document.createElement('canvas');
        c.width = w;
        c.height = h;
        c.getContext('2d').drawImage(m, 0, 0);
        a.href = c.toDataURL('image/png');
      } catch {
        a.href = this.url(`/snapshot/${feedPath(this.feedName)}.jpg`);
        a.target = '_blank';
      }
      a.click();
    }
  }

  customElements.define('osprey-player', OspreyPlayer);
})();
