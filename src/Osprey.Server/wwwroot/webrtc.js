// WebRTC view of the Osprey page: WHEP (RFC 9725) to /{feed}/whep, the answer's one video track in a <video>.
//
// The offer asks for video and audio, both recvonly (the server always answers an audio section: browsers
// hold video back without one); the answer carries every candidate, so nothing is trickled. The session is
// DELETEd when the view stops; a connection that fails is started again with BACKOFF_MS.

import { BACKOFF_MS, el, feedPath, perSecond, STATS_EVERY_MS, View } from './players.js';

/** True when this browser can play the server's WebRTC: RTCPeerConnection and an H.264 decoder for it. */
export function hasWebRtc() {
  if (typeof RTCPeerConnection !== 'function' || typeof RTCRtpReceiver?.getCapabilities !== 'function') return false;
  const codecs = RTCRtpReceiver.getCapabilities('video')?.codecs ?? [];
  return codecs.some((c) => c.mimeType.toLowerCase() === 'video/h264');
}

export class WebRtcView extends View {
  constructor(feed, badge) {
    super(feed, badge, 'webrtc');
    const video = el('video');
    video.id = `video-${feed.name}`;
    video.dataset.feed = feed.name;
    video.dataset.view = 'webrtc';
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    this.video = video;
    this.nodes.unshift(video);
    Object.assign(this.state, { video, renderer: 'video', session: null, iceState: 'new' });
    this.attempt = 0;
    this.retryTimer = 0;
    this.statsTimer = setInterval(() => this.tick(), STATS_EVERY_MS);
    this.connect();
  }

  get path() {
    return this.feed.endpoints?.whep ?? `/${feedPath(this.name)}/whep`;
  }

  async connect() {
    if (this.stopped) return;
    this.setStatus('connecting…');
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.ontrack = (e) => {
      if (e.track.kind !== 'video') return;
      this.video.srcObject = new MediaStream([e.track]);
      this.video.play().catch(() => {});
    };
    pc.oniceconnectionstatechange = () => {
      this.state.iceState = pc.iceConnectionState;
      if (pc.iceConnectionState === 'failed' || pc.iceConnectionState === 'closed') this.retry(`ICE ${pc.iceConnectionState}`);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const res = await fetch(this.path, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp });
      const body = await res.text();
      if (res.status !== 201) {
        let message = body;
        try { message = JSON.parse(body).error ?? body; } catch { /* not JSON */ }
        throw new Error(`HTTP ${res.status}: ${message}`);
      }
      if (this.stopped) {
        this.end(res.headers.get('Location'));
        return;
      }
      this.state.session = res.headers.get('Location');
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
      this.watchFrames();
    } catch (e) {
      this.state.error = String(e.message ?? e);
      this.retry(this.state.error);
    }
  }

  /** Counts the frames the browser shows (requestVideoFrameCallback); 'live' from the first. */
  watchFrames() {
    if (typeof this.video.requestVideoFrameCallback !== 'function') return;
    const onFrame = (now) => {
      if (this.stopped) return;
      if (!this.state.connected) {
        this.state.connected = true;
        this.attempt = 0;
        this.setStatus('live');
      }
      this.drawn(null, now);
      this.video.requestVideoFrameCallback(onFrame);
    };
    this.video.requestVideoFrameCallback(onFrame);
  }

  tick() {
    this.state.fps = perSecond(this.drawTimes, performance.now());
    this.renderStats();
  }

  renderStats() {
    const s = this.state;
    this.statsEl.textContent = `${s.fps} fps · WebRTC (ICE ${s.iceState}) · frames ${s.frames}`;
  }

  retry(why) {
    if (this.stopped || this.retryTimer) return;
    this.state.connected = false;
    this.setStatus(`reconnecting… (${why})`, true);
    this.teardown();
    const delay = BACKOFF_MS[Math.min(this.attempt, BACKOFF_MS.length - 1)];
    this.attempt++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = 0;
      this.connect();
    }, delay);
  }

  /** Ends the server's session (keepalive: also while the page unloads). */
  end(location) {
    if (location) fetch(location, { method: 'DELETE', keepalive: true }).catch(() => {});
  }

  teardown() {
    this.end(this.state.session);
    this.state.session = null;
    this.pc?.close();
    this.pc = null;
    this.video.srcObject = null;
  }

  stop() {
    super.stop();
    clearTimeout(this.retryTimer);
    clearInterval(this.statsTimer);
    this.teardown();
  }
}
