// HLS view: a feed's /hls/{feed}/index.m3u8 in a <video>, through hls.js (vendored at build time, served at
// /vendor/hls.js/hls.min.js and loaded on first use) or the browser's own HLS (Safari) where it has no MSE.
// 'hls' plays low-latency (blocking playlist reloads, parts, preload hints); 'hlsplain' plays whole segments
// from plain.m3u8, as a player or cache that does not speak LL-HLS would.
import { el, View, feedPath } from './players.js';

let hlsLoading = null;

/** Loads hls.js once (a classic script that defines window.Hls). */
function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsLoading ??= new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = 'vendor/hls.js/hls.min.js';
    script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error('hls.js did not load')));
    script.onerror = () => reject(new Error('hls.js could not be fetched'));
    document.head.append(script);
  });
  return hlsLoading;
}

/** True when this browser can play HLS (hls.js over MSE, or natively). */
export function hasHls() {
  return 'MediaSource' in window || 'ManagedMediaSource' in window
    || document.createElement('video').canPlayType('application/vnd.apple.mpegurl') !== '';
}

export class HlsView extends View {
  constructor(feed, badge, lowLatency) {
    super(feed, badge, lowLatency ? 'hls' : 'hlsplain');
    const video = el('video');
    video.id = `video-${feed.name}`;
    video.dataset.feed = feed.name;
    video.dataset.view = this.state.view;
    video.muted = true;
    video.setAttribute('muted', '');
    video.autoplay = true;
    video.playsInline = true;
    if (feed.width > 0 && feed.height > 0) {
      video.width = feed.width;
      video.height = feed.height;
    }
    this.video = video;
    this.lowLatency = lowLatency;
    this.nodes.unshift(video);
    Object.assign(this.state, {
      video,
      renderer: 'hls',
      player: null,           // 'hls.js' or 'native'
      behindLiveEdge: null,   // s: hls.js's latency (live edge - currentTime), or buffered end - currentTime
      behindCapture: null,    // s: now - the capture time of the frame shown (PROGRAM-DATE-TIME; clocks assumed in sync)
      targetLatency: null,
      fragments: 0,           // parts or segments loaded
      errors: 0,
      lastError: null,
    });
    this.hls = null;
    this.timer = setInterval(() => this.tick(), 250);
    this.start();
  }

  get url() {
    const base = `/hls/${feedPath(this.name)}/`;
    return base + (this.lowLatency ? 'index.m3u8' : 'plain.m3u8');
  }

  async start() {
    const video = this.video;
    const mse = 'MediaSource' in window || 'ManagedMediaSource' in window;
    if (!mse && video.canPlayType('application/vnd.apple.mpegurl')) {
      this.state.player = 'native';
      video.src = this.url;
      video.play().catch(() => {});
      return;
    }
    try {
      const Hls = await loadHlsJs();
      if (this.stopped) return;
      const hls = new Hls({
        lowLatencyMode: this.lowLatency,
        liveSyncDurationCount: this.lowLatency ? undefined : 2,
        maxLiveSyncPlaybackRate: 1.5,
        backBufferLength: 10,
      });
      this.hls = hls;
      this.state.player = 'hls.js';
      hls.on(Hls.Events.FRAG_LOADED, () => { this.state.fragments++; });
      hls.on(Hls.Events.ERROR, (_, data) => {
        this.state.errors++;
        this.state.lastError = `${data.type}: ${data.details}`;
        if (data.fatal) {
          this.setStatus(`error: ${data.details}`, true);
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
          else setTimeout(() => { if (!this.stopped) hls.startLoad(); }, 1000);
        }
      });
      hls.loadSource(this.url);
      hls.attachMedia(video);
      video.play().catch(() => {});
    } catch (e) {
      this.setStatus(String(e.message ?? e), true);
    }
  }

  tick() {
    const s = this.state;
    const v = this.video;
    const q = v.getVideoPlaybackQuality?.();
    if (q) s.frames = q.totalVideoFrames;
    if (this.hls) {
      s.behindLiveEdge = Number.isFinite(this.hls.latency) ? this.hls.latency : null;
      s.targetLatency = Number.isFinite(this.hls.targetLatency) ? this.hls.targetLatency : null;
      const shown = this.hls.playingDate;
      s.behindCapture = shown ? (Date.now() - shown.getTime()) / 1000 : null;
    } else if (v.buffered.length) {
      s.behindLiveEdge = v.buffered.end(v.buffered.length - 1) - v.currentTime;
    }
    s.connected = !v.paused && v.readyState >= 2;
    if (s.connected && s.status !== 'live') this.setStatus('live');
    this.statsEl.textContent =
      `${s.player ?? '…'} · ${this.lowLatency ? 'LL-HLS' : 'HLS'} · behind live ${s.behindLiveEdge === null ? '–' : s.behindLiveEdge.toFixed(2) + ' s'}` +
      ` · behind capture ${s.behindCapture === null ? '–' : s.behindCapture.toFixed(2) + ' s'}` +
      ` · frames ${s.frames} · fragments ${s.fragments} · errors ${s.errors}`;
  }

  stop() {
    clearInterval(this.timer);
    this.hls?.destroy();
    this.hls = null;
    this.video.removeAttribute('src');
    this.video.load();
    super.stop();
  }
}
