// H.264 views of the Osprey page:
//   MseView       - /ws/{feed}/mp4: fragmented MP4 into Media Source Extensions (a <video>)
//   WebCodecsView - /ws/{feed}/h264: access units into a WebCodecs VideoDecoder (a <canvas>)
//
// Wire formats (from the server):
//   mp4:  TEXT 'video/mp4; codecs="avc1.PPCCLL"', BINARY init segment (ftyp+moov), then one
//         BINARY media segment (moof+mdat, one sample) per access unit, the first one a key
//         frame. A new TEXT + init pair may come whenever SPS/PPS change. tfdt is the feed's
//         decode time (90 kHz), so a viewer that fell behind and was moved on to a later key
//         frame sees a jump in tfdt.
//   h264: TEXT JSON {codec, width, height, description: base64 avcC}, then BINARY messages of
//         8-byte big-endian capture time (µs since epoch) + 1 flag byte (bit 0: key frame) + the
//         access unit as 4-byte length-prefixed NAL units. A new JSON may come when SPS/PPS change.
//
// The box parsers at the top touch no DOM, so Node can import them for checks.

import { el, feedPath, newCanvas, perSecond, SocketView, STATS_EVERY_MS } from './players.js';
import { readProbe } from './yuyv.js';

// ---------------------------------------------------------------------------
// ISO BMFF parsing (just what the player needs)
// ---------------------------------------------------------------------------

const fourcc = (b, i) => String.fromCharCode(b[i], b[i + 1], b[i + 2], b[i + 3]);

/** The boxes in bytes [start, end): {type, start, end, body}. Stops at a malformed size. */
function* boxes(b, start, end) {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = start;
  while (i + 8 <= end) {
    let size = dv.getUint32(i);
    let body = i + 8;
    if (size === 1) {
      if (i + 16 > end) return;
      size = dv.getUint32(i + 8) * 4294967296 + dv.getUint32(i + 12);
      body = i + 16;
    } else if (size === 0) {
      size = end - i; // to the end of the enclosing space
    }
    if (size < body - i || i + size > end) return;
    yield { type: fourcc(b, i + 4), start: i, end: i + size, body };
    i += size;
  }
}

/** The first box of a type in a path of nested boxes, e.g. ['moov','trak','mdia','mdhd']. */
function findBox(b, path, start = 0, end = b.byteLength) {
  let found = null;
  for (const type of path) {
    found = null;
    for (const x of boxes(b, start, end)) {
      if (x.type === type) {
        found = x;
        break;
      }
    }
    if (!found) return null;
    start = found.body;
    end = found.end;
  }
  return found;
}

/** The type of the first box of a message: 'ftyp'/'moov' start an init segment, 'moof'/'styp' a media segment. */
export function firstBoxType(buffer) {
  if (buffer.byteLength < 8) return '';
  return fourcc(new Uint8Array(buffer, 0, 8), 4);
}

/**
 * What the player needs from an init segment.
 * @param {ArrayBuffer} buffer
 * @returns {{timescale:number, codec:string|null}}
 */
export function parseInit(buffer) {
  const b = new Uint8Array(buffer);
  const dv = new DataView(buffer);
  let timescale = 90000;
  const mdhd = findBox(b, ['moov', 'trak', 'mdia', 'mdhd']);
  if (mdhd && mdhd.end - mdhd.body >= 24) {
    // version 0: creation(4) modification(4) timescale; version 1: creation(8) modification(8) timescale
    timescale = dv.getUint32(mdhd.body + (b[mdhd.body] === 1 ? 20 : 12)) || timescale;
  }
  // The codec string from the avcC: profile, compatibility and level follow the version byte.
  let codec = null;
  for (let i = 4; i + 8 <= b.length; i++) {
    if (b[i] === 0x61 && b[i + 1] === 0x76 && b[i + 2] === 0x63 && b[i + 3] === 0x43) {
      codec = 'avc1.' + [b[i + 5], b[i + 6], b[i + 7]].map((x) => x.toString(16).padStart(2, '0')).join('');
      break;
    }
  }
  return { timescale, codec };
}

/**
 * The first fragment of a media segment: sequence number, decode time, first sample's
 * duration, whether it starts with a sync sample (null if the segment does not say), and
 * where its mdat payload is.
 * @param {ArrayBuffer} buffer
 * @returns {{seq:number|null, tfdt:number|null, tfdtAt:number, tfdtVersion:number, duration:number|null,
 *            key:boolean|null, mdatStart:number, mdatEnd:number} | null}  tfdtAt: byte offset of the
 *   baseMediaDecodeTime field (so it can be rewritten), -1 if there is no tfdt
 */
export function parseMoof(buffer) {
  const b = new Uint8Array(buffer);
  const dv = new DataView(buffer);
  let moof = null;
  let mdat = null;
  for (const x of boxes(b, 0, b.length)) {
    if (x.type === 'moof' && !moof) moof = x;
    else if (x.type === 'mdat' && moof && !mdat) mdat = x;
  }
  if (!moof) return null;
  const out = { seq: null, tfdt: null, tfdtAt: -1, tfdtVersion: 0, duration: null, key: null, mdatStart: mdat ? mdat.body : 0, mdatEnd: mdat ? mdat.end : 0 };
  const mfhd = findBox(b, ['mfhd'], moof.body, moof.end);
  if (mfhd && mfhd.end - mfhd.body >= 8) out.seq = dv.getUint32(mfhd.body + 4);
  const traf = findBox(b, ['traf'], moof.body, moof.end);
  if (!traf) return out;
  let defaultDuration = null;
  let defaultFlags = null;
  for (const x of boxes(b, traf.body, traf.end)) {
    const version = b[x.body];
    const flags = dv.getUint32(x.body) & 0xffffff;
    let p = x.body + 4;
    if (x.type === 'tfhd') {
      p += 4; // track_ID
      if (flags & 0x01) p += 8; // base_data_offset
      if (flags & 0x02) p += 4; // sample_description_index
      if (flags & 0x08) { defaultDuration = dv.getUint32(p); p += 4; }
      if (flags & 0x10) p += 4; // default_sample_size
      if (flags & 0x20) defaultFlags = dv.getUint32(p);
    } else if (x.type === 'tfdt') {
      out.tfdt = version === 1 ? dv.getUint32(p) * 4294967296 + dv.getUint32(p + 4) : dv.getUint32(p);
      out.tfdtAt = p;
      out.tfdtVersion = version;
    } else if (x.type === 'trun') {
      const count = dv.getUint32(p);
      p += 4;
      if (flags & 0x01) p += 4; // data_offset
      let sampleFlags = defaultFlags;
      if (flags & 0x04) { sampleFlags = dv.getUint32(p); p += 4; }
      out.duration = defaultDuration;
      if (count > 0 && p < x.end) {
        if (flags & 0x100) { out.duration = dv.getUint32(p); p += 4; }
        if (flags & 0x200) p += 4;
        if (flags & 0x400 && !(flags & 0x04)) sampleFlags = dv.getUint32(p);
      }
      // sample_is_non_sync_sample is bit 16 of the sample flags
      if (sampleFlags !== null) out.key = (sampleFlags & 0x10000) === 0;
    }
  }
  return out;
}

/**
 * Osprey's probe header, carried in an SEI NAL unit (user_data_unregistered) of the sample:
 * the NAL payload is unescaped (emulation prevention bytes removed) and searched for 'FOUT'.
 * @param {Uint8Array} sample  length-prefixed NAL units
 */
export function findSeiProbe(sample) {
  const dv = new DataView(sample.buffer, sample.byteOffset, sample.byteLength);
  for (let i = 0, nals = 0; i + 5 <= sample.length && nals < 8; nals++) {
    const n = dv.getUint32(i);
    const start = i + 4;
    const end = Math.min(start + n, sample.length);
    if ((sample[start] & 0x1f) === 6) {
      const rbsp = new Uint8Array(end - start);
      let k = 0;
      for (let j = start + 1, zeros = 0; j < end; j++) {
        const v = sample[j];
        if (zeros >= 2 && v === 3) { zeros = 0; continue; }
        zeros = v === 0 ? zeros + 1 : 0;
        rbsp[k++] = v;
      }
      for (let j = 0; j + 32 <= k; j++) {
        if (rbsp[j] === 0x46 && rbsp[j + 1] === 0x4f && rbsp[j + 2] === 0x55 && rbsp[j + 3] === 0x54) {
          return readProbe(rbsp.buffer, j);
        }
      }
    } else if ((sample[start] & 0x1f) === 1 || (sample[start] & 0x1f) === 5) {
      return null; // SEI comes before the slices
    }
    i = end;
  }
  return null;
}

// ---------------------------------------------------------------------------
// MSE view
// ---------------------------------------------------------------------------

/** Live-edge control of the MSE view; `state.settings` is this object, so it can be tuned live. */
export const MSE_DEFAULTS = {
  driftLag: 0.2,    // s behind above which playback runs at driftRate (undoes the creep of stalls)
  driftRate: 1.03,
  catchUpLag: 0.5,  // s behind the live edge above which playback speeds up proportionally
  minRate: 1.05,    // playbackRate at catchUpLag
  maxRate: 1.5,     // playbackRate at seekLag
  seekLag: 2,       // s behind above which the player seeks instead
  seekTarget: 0.1,  // s behind the live edge to seek to
  keepBehind: 10,   // s of played video kept in the SourceBuffer
  trimEveryMs: 2000,
  maxQueue: 90,     // segments waiting to be appended before the backlog is dropped to the next key frame
};
const CONTROL_MS = 100;

const MediaSourceImpl = globalThis.MediaSource ?? globalThis.ManagedMediaSource;

/** True when the browser can play H.264 in MSE at all (the codec string is checked per stream). */
export const hasMse = () => !!MediaSourceImpl;

export class MseView extends SocketView {
  constructor(feed, badge, settings = {}) {
    super(feed, badge, 'mp4');
    this.settings = { ...MSE_DEFAULTS, ...settings };
    const video = el('video');
    video.id = `video-${feed.name}`;
    video.dataset.feed = feed.name;
    video.dataset.view = 'mp4';
    video.muted = true; // autoplay needs it
    video.setAttribute('muted', '');
    video.autoplay = true;
    video.playsInline = true;
    video.disableRemotePlayback = true; // ManagedMediaSource (Safari) asks for it
    if (feed.width > 0 && feed.height > 0) {
      video.width = feed.width;
      video.height = feed.height;
    }
    this.video = video;
    this.nodes.unshift(video);
    Object.assign(this.state, {
      video,
      renderer: 'mse',
      settings: this.settings,
      mime: null,
      width: 0,
      height: 0,
      behindLiveEdge: null, // s: buffered.end(last) - currentTime
      decodedFrames: 0,     // getVideoPlaybackQuality().totalVideoFrames
      droppedFrames: 0,     // getVideoPlaybackQuality().droppedVideoFrames
      keyFrameSkips: 0,     // server moved us on to a later key frame (tfdt jump)
      seeks: 0,             // seeks to the live edge when more than seekLag behind
      gapJumps: 0,          // seeks into the buffer from outside it (start, holes after skips)
      retimed: 0,           // samples moved later so as not to overlap the previous one
      trims: 0,             // SourceBuffer.remove calls
      quotaErrors: 0,
      inits: 0,             // init segments appended (1 + SPS/PPS changes + reconnects)
      bufferedSeconds: 0,   // buffered.end(last) - buffered.start(0)
      playbackRate: 1,
    });

    this.ms = null;
    this.sb = null;
    this.queue = [];        // {init: bool, data, mime?, key?}
    this.pendingMime = null;
    this.timescale = 90000;
    this.lastTfdt = null;
    this.nextTfdt = null;
    this.lastDuration = null;
    this.waitKey = false;   // dropping media until a key frame (after a backlog or a failed append)
    this.lastTrim = 0;
    this.catchingUp = false;
    this.probes = [];       // {t: media time (s), captureMicros, counter} of appended samples with a probe
    this.presented = 0;     // rVFC presentedFrames
    this.presentTimes = [];
    this.lastQuality = { t: performance.now(), total: 0 };
    this.qualityBase = { total: 0, dropped: 0 };

    this.renderStats();
    if (!MediaSourceImpl) {
      this.state.error = 'this browser has no Media Source Extensions';
      this.setStatus(this.state.error, true);
      return;
    }
    video.addEventListener('error', () => this.onVideoError());
    this.connect();
    this.control = setInterval(() => this.tick(), CONTROL_MS);
    if ('requestVideoFrameCallback' in video) this.rvfc = video.requestVideoFrameCallback((t, m) => this.onVideoFrame(t, m));
  }

  get path() {
    return this.feed.endpoints?.mp4 ?? `/ws/${feedPath(this.name)}/mp4`;
  }

  /**
   * Every connection gets a new MediaSource (a restarted server's timeline may start
   * anywhere), made when its first message arrives so the last picture stays up while
   * reconnecting.
   */
  connect() {
    this.needSource = true;
    super.connect();
  }

  freshSource() {
    if (!this.needSource) return;
    this.needSource = false;
    this.newMediaSource();
  }

  newMediaSource() {
    this.ms = new MediaSourceImpl();
    this.sb = null;
    this.queue = [];
    this.pendingMime = null;
    this.lastTfdt = null;
    this.nextTfdt = null;
    this.lastSeq = null;
    this.lastDuration = null;
    this.waitKey = false;
    this.startupUntil = 0; // set by the first media append: 2 s in which any lag over catchUpLag is a seek
    this.probes = [];
    // Playback quality restarts with a new source: keep the totals of the old ones.
    const q = this.video.getVideoPlaybackQuality?.();
    if (q) {
      this.qualityBase.total += q.totalVideoFrames;
      this.qualityBase.dropped += q.droppedVideoFrames;
    }
    this.catchingUp = false;
    this.presented = 0; // a new source restarts presentedFrames and the playback quality counts
    this.lastQuality = { t: performance.now(), total: 0 };
    const ms = this.ms;
    ms.addEventListener('sourceopen', () => {
      if (ms === this.ms) this.pump();
    }, { once: true });
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.objectUrl = URL.createObjectURL(ms);
    this.video.src = this.objectUrl;
  }

  onText(text) {
    this.freshSource();
    this.pendingMime = text.trim();
  }

  onFrame(data) {
    this.freshSource();
    const type = firstBoxType(data);
    if (type === 'ftyp' || type === 'moov') {
      const init = parseInit(data);
      // The text message before it names the codec; the avcC says the same if it was missed.
      const mime = this.pendingMime ?? (init.codec ? `video/mp4; codecs="${init.codec}"` : null);
      this.pendingMime = null;
      // Segments of the old configuration still waiting would not decode with the new one.
      this.queue = this.queue.filter((q) => q.init);
      this.queue.push({ init: true, data, mime, timescale: init.timescale });
      this.waitKey = false;
    } else if (type === 'moof' || type === 'styp') {
      this.received(null);
      const m = parseMoof(data);
      const key = m ? m.key : null;
      if (this.waitKey) {
        if (key !== true) {
          this.state.skipped++;
          return;
        }
        this.waitKey = false;
      }
      if (this.queue.length >= this.settings.maxQueue) {
        // Appends cannot keep up (hidden tab, slow device): drop the backlog, resume at a key frame.
        const before = this.queue.length;
        this.queue = this.queue.filter((q) => q.init);
        this.state.skipped += before - this.queue.length;
        if (key !== true) {
          this.waitKey = true;
          this.state.skipped++;
          return;
        }
      }
      this.queue.push({ init: false, data, moof: m });
    } else {
      this.state.error = `unexpected message (${data.byteLength} bytes, box '${type}')`;
      this.setStatus(this.state.error, true);
      return;
    }
    this.pump();
  }

  /** Appends (or trims) when the SourceBuffer is idle; called again on every updateend. */
  pump() {
    const ms = this.ms;
    if (this.stopped || !ms || ms.readyState !== 'open') return;
    if (this.sb?.updating) return;
    if (this.sb && this.trimIfDue()) return;
    const item = this.queue[0];
    if (!item) return;
    try {
      if (item.init) {
        if (!this.sb) {
          if (!item.mime || !MediaSourceImpl.isTypeSupported(item.mime)) {
            throw new Error(`the browser cannot play ${item.mime ?? 'this stream (no codec string)'}`);
          }
          this.sb = ms.addSourceBuffer(item.mime);
          // 'segments': tfdt is the capture clock, so the media timeline is real time (no drift),
          // and a skip to a later key frame stays visible as a gap that tick() jumps over.
          this.sb.mode = 'segments';
          this.sb.addEventListener('updateend', () => this.pump());
          this.sb.addEventListener('error', () => this.onVideoError());
          this.state.mime = item.mime;
        } else if (item.mime && item.mime !== this.state.mime) {
          // New SPS with another profile or level.
          if (typeof this.sb.changeType === 'function') {
            this.sb.changeType(item.mime);
            this.state.mime = item.mime;
          } else {
            // No changeType: start over with a MediaSource for the new codec, this init first.
            const rest = this.queue;
            this.newMediaSource();
            this.queue = rest;
            return;
          }
        }
        this.timescale = item.timescale;
        this.lastTfdt = null; // a new configuration may restart the decode clock
        this.nextTfdt = null;
        this.lastSeq = null;
        this.sb.appendBuffer(item.data);
        this.state.inits++;
      } else {
        if (!this.sb) {
          this.queue.shift(); // media before any init segment: nothing can decode it
          this.pump();
          return;
        }
        this.noteSegment(item);
        this.sb.appendBuffer(item.data);
        if (!this.startupUntil) this.startupUntil = performance.now() + 2000;
      }
      this.queue.shift();
    } catch (e) {
      if (e.name === 'QuotaExceededError' && this.sb) {
        // Full: drop everything more than a second behind the playhead and retry the same segment.
        this.state.quotaErrors++;
        const to = this.video.currentTime - 1;
        if (!item.retried && this.sb.buffered.length && to > this.sb.buffered.start(0)) {
          item.retried = true;
          this.remove(0, to);
          return;
        }
        // Nothing left to drop: skip this segment and wait for the next key frame.
        this.queue.shift();
        this.waitKey = !item.init;
        this.state.skipped++;
        return;
      }
      this.state.error = `MSE: ${e.message || e}`;
      this.setStatus(this.state.error, true);
      console.warn('osprey: MSE append failed', e);
      // A broken SourceBuffer is not repaired by more appends: start again with a new connection.
      this.ws?.close();
    }
  }

  /**
   * Key-frame skips from tfdt, the probe of the sample for latency at presentation, and
   * retiming: a sample whose tfdt falls inside the previous sample (tfdt < previous tfdt +
   * previous duration, as when frames captured late arrive in a burst) is moved to the end
   * of the previous one. Left overlapping, the browser would drop the overlapped frame and
   * every frame that depends on it up to the next key frame, leaving a hole in the buffer.
   */
  noteSegment(item) {
    const m = item.moof;
    if (!m || m.tfdt === null) return;
    const s = this.state;
    const duration = m.duration || this.lastDuration || 0;
    let tfdt = m.tfdt;
    if (this.nextTfdt !== null && tfdt < this.nextTfdt && m.tfdtAt >= 0) {
      const dv = new DataView(item.data);
      const t = this.nextTfdt;
      if (m.tfdtVersion === 1) {
        dv.setUint32(m.tfdtAt, Math.floor(t / 4294967296));
        dv.setUint32(m.tfdtAt + 4, t % 4294967296);
        tfdt = t;
      } else if (t < 4294967296) {
        dv.setUint32(m.tfdtAt, t);
        tfdt = t;
      }
      if (tfdt === t) s.retimed++;
    }
    this.nextTfdt = duration > 0 ? tfdt + duration : null;
    if (this.lastTfdt !== null) {
      const delta = m.tfdt - this.lastTfdt;
      const frame = this.lastDuration || delta;
      // A skip is a jump of more than 1.5 frames in tfdt onto a key frame (the server only
      // moves a viewer on to a key frame, so a late P frame is jitter), unless the fragment
      // sequence number (the feed's, one per frame) says no fragment was left out: then it
      // is a key frame that came late.
      const consecutive = m.seq !== null && this.lastSeq !== null && m.seq === this.lastSeq + 1;
      if (m.key === true && frame > 0 && delta > 1.5 * frame && !consecutive) s.keyFrameSkips++;
      if (!m.duration && delta > 0 && delta < 1.5 * frame) this.lastDuration = delta;
    }
    if (m.duration) this.lastDuration = m.duration;
    this.lastTfdt = m.tfdt;
    this.lastSeq = m.seq;
    if (m.mdatEnd > m.mdatStart) {
      const probe = findSeiProbe(new Uint8Array(item.data, m.mdatStart, m.mdatEnd - m.mdatStart));
      if (probe) {
        this.probes.push({ t: tfdt / this.timescale, captureMicros: probe.captureMicros, counter: probe.counter });
        if (this.probes.length > 600) this.probes.splice(0, this.probes.length - 600);
      }
    }
  }

  remove(from, to) {
    this.sb.remove(from, to);
    this.state.trims++;
  }

  /** Removes what is more than keepBehind seconds behind the playhead; true if a remove started. */
  trimIfDue() {
    const now = performance.now();
    if (now - this.lastTrim < this.settings.trimEveryMs) return false;
    this.lastTrim = now;
    const b = this.sb.buffered;
    const to = this.video.currentTime - this.settings.keepBehind;
    if (!b.length || to <= b.start(0)) return false;
    this.remove(0, to);
    return true;
  }

  onVideoError() {
    if (this.stopped) return;
    const err = this.video.error;
    this.state.error = `video error${err ? ` ${err.code}: ${err.message}` : ''}`;
    this.setStatus(this.state.error, true);
    this.ws?.close(); // onclose reconnects, and connect() makes a new MediaSource
  }

  /** Live-edge control, every CONTROL_MS. */
  tick() {
    if (this.stopped) return;
    const v = this.video;
    const s = this.state;
    const cfg = this.settings;
    const b = v.buffered;
    if (b.length) {
      const last = b.length - 1;
      const end = b.end(last);
      const t = v.currentTime;
      // The range holding the playhead; a playhead stalled at the end of a range may read a
      // hair past it, which must not count as outside (a needless seek costs a GOP's decode).
      let range = -1;
      for (let i = 0; i <= last && range === -1; i++) {
        if (t >= b.start(i) - 0.05 && t <= b.end(i) + 0.05) range = i;
      }
      if (range === -1) {
        // Outside the buffer: before the first frame (the timeline starts at the feed's decode
        // time, not 0), or in a hole: go to the next range, or the live edge if that is the last.
        let next = 0;
        while (next < last && b.start(next) < t) next++;
        v.currentTime = next === last ? Math.max(b.start(last), end - cfg.seekTarget) : b.start(next);
        s.gapJumps++;
      } else if (range < last && b.end(range) - t < 0.05 && v.readyState < HTMLMediaElement.HAVE_FUTURE_DATA) {
        // Stalled at the end of a range with a gap after it (a key-frame skip): jump the gap.
        v.currentTime = b.start(range + 1);
        s.gapJumps++;
      } else if (end - t > cfg.seekLag || (end - t > cfg.catchUpLag && performance.now() < this.startupUntil)) {
        // Far behind; or, just after (re)connecting, the server's burst of the current GOP
        // left us behind: seek rather than spend seconds catching up.
        v.currentTime = end - cfg.seekTarget;
        s.seeks++;
      } else {
        const lag = end - t;
        // Every stall (late data) leaves the playhead a little further behind when it resumes,
        // so lag creeps: above driftLag play slightly fast (driftRate, not noticeable), above
        // catchUpLag faster in proportion to the lag (minRate..maxRate up to seekLag), and
        // back to 1 once under three quarters of driftLag.
        if (lag > Math.min(cfg.driftLag, cfg.catchUpLag)) this.catchingUp = true;
        else if (lag < Math.min(cfg.driftLag, cfg.catchUpLag) * 0.75) this.catchingUp = false;
        const span = Math.max(cfg.seekLag - cfg.catchUpLag, 0.001);
        const rate = !this.catchingUp ? 1
          : lag <= cfg.catchUpLag ? cfg.driftRate
          : Math.min(cfg.maxRate, cfg.minRate + (cfg.maxRate - cfg.minRate) * (lag - cfg.catchUpLag) / span);
        if (Math.abs(v.playbackRate - rate) > 0.005) v.playbackRate = rate;
      }
      s.behindLiveEdge = Math.max(0, end - v.currentTime);
      s.bufferedSeconds = end - b.start(0);
      if (v.paused && v.readyState >= 2 && !document.hidden) v.play().catch(() => {});
    }
    s.playbackRate = v.playbackRate;
    s.width = v.videoWidth;
    s.height = v.videoHeight;
    const q = v.getVideoPlaybackQuality?.();
    const now = performance.now();
    if (q) {
      s.decodedFrames = this.qualityBase.total + q.totalVideoFrames;
      s.droppedFrames = this.qualityBase.dropped + q.droppedVideoFrames;
      if (!this.rvfc) {
        // No requestVideoFrameCallback: fps from the decoder's frame count.
        if (now - this.lastQuality.t >= 1000) {
          const shown = q.totalVideoFrames - q.droppedVideoFrames;
          s.fps = Math.round(((shown - this.lastQuality.total) * 1000) / (now - this.lastQuality.t));
          s.frames = this.qualityBase.total - this.qualityBase.dropped + shown;
          this.lastQuality = { t: now, total: shown };
        }
      }
    }
    if (this.rvfc) s.fps = perSecond(this.presentTimes, now);
    s.receivedFps = perSecond(this.recvTimes, now);
    if (now - (this.lastStats ?? 0) >= STATS_EVERY_MS) {
      this.lastStats = now;
      this.renderStats();
    }
  }

  /** requestVideoFrameCallback: frames actually presented, and the shown frame's probe latency. */
  onVideoFrame(now, meta) {
    if (this.stopped) return;
    this.rvfc = this.video.requestVideoFrameCallback((t, m) => this.onVideoFrame(t, m));
    const s = this.state;
    // presentedFrames counts frames this callback may have missed; it restarts with a new source.
    const n = meta.presentedFrames > this.presented ? meta.presentedFrames - this.presented : 1;
    this.presented = meta.presentedFrames;
    const t = performance.now();
    for (let i = 0; i < Math.min(n, 120); i++) this.presentTimes.push(t);
    s.frames += n;
    // Drop probes of frames already past; the one at the presented media time gives the latency.
    const probes = this.probes;
    let i = 0;
    while (i < probes.length && probes[i].t < meta.mediaTime - 0.002) i++;
    if (i > 0) probes.splice(0, i);
    if (probes.length && Math.abs(probes[0].t - meta.mediaTime) < 0.002) {
      s.lastCounter = probes[0].counter;
      s.latencyMs = (Date.now() * 1000 - probes[0].captureMicros) / 1000;
    }
    if (s.error && this.ws) {
      s.error = null;
      this.setStatus('live');
    }
  }

  renderStats() {
    const s = this.state;
    const f = (x, d = 2) => (typeof x === 'number' ? x.toFixed(d) : '–');
    const latency = s.latencyMs === null ? '' : ` · latency (clocks assumed in sync) ${Math.round(s.latencyMs)} ms`;
    this.statsEl.textContent =
      `behind live edge ${f(s.behindLiveEdge)} s · ${s.fps} fps · ${s.width}×${s.height} · ` +
      `dropped ${s.droppedFrames} of ${s.decodedFrames} · key-frame skips ${s.keyFrameSkips}` +
      (s.playbackRate !== 1 ? ` · rate ${f(s.playbackRate)}` : '') + latency;
  }

  stop() {
    super.stop();
    clearInterval(this.control);
    if (this.rvfc && this.video.cancelVideoFrameCallback) this.video.cancelVideoFrameCallback(this.rvfc);
    this.queue = [];
    this.video.removeAttribute('src');
    this.video.load(); // releases the MediaSource and the decoder
    if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    this.ms = null;
    this.sb = null;
  }
}

// ---------------------------------------------------------------------------
// WebCodecs view
// ---------------------------------------------------------------------------

/** WebCodecs exists only in secure contexts (https, or http on localhost). */
export const hasWebCodecs = () => typeof globalThis.VideoDecoder === 'function';

const MAX_DECODE_QUEUE = 10; // chunks waiting in the decoder before the backlog is dropped to a key frame

function base64Bytes(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export class WebCodecsView extends SocketView {
  constructor(feed, badge) {
    super(feed, badge, 'webcodecs');
    const canvas = newCanvas(feed.name, feed.width, feed.height);
    canvas.dataset.view = 'webcodecs';
    this.ctx = canvas.getContext('2d');
    this.nodes.unshift(canvas);
    Object.assign(this.state, {
      canvas,
      renderer: 'webcodecs',
      codec: null,
      width: 0,
      height: 0,
      decodedFrames: 0,   // frames out of the decoder (drawn or replaced before drawing)
      keyFrameWaits: 0,   // times decoding restarted at a key frame (configure, backlog, error)
    });
    this.decoder = null;
    this.config = null;
    this.waitKey = true;
    this.pending = null; // newest decoded VideoFrame not yet drawn
    this.decodedSeq = 0;
    this.lastStats = 0;

    this.renderStats();
    if (!hasWebCodecs()) {
      this.state.error = 'this browser has no WebCodecs VideoDecoder (it needs https or localhost)';
      this.setStatus(this.state.error, true);
      return;
    }
    this.connect();
    this.raf = requestAnimationFrame((t) => this.tick(t));
  }

  get path() {
    return this.feed.endpoints?.h264 ?? `/ws/${feedPath(this.name)}/h264`;
  }

  connect() {
    this.waitKey = true; // whatever comes first on the new connection, decoding restarts at a key frame
    super.connect();
  }

  onText(text) {
    let c;
    try {
      c = JSON.parse(text);
    } catch {
      return;
    }
    if (!c.codec) return;
    this.config = {
      codec: c.codec,
      codedWidth: c.width || undefined,
      codedHeight: c.height || undefined,
      description: c.description ? base64Bytes(c.description) : undefined,
      optimizeForLatency: true,
    };
    this.state.codec = c.codec;
    this.configure();
  }

  configure() {
    if (!this.config) return;
    try {
      if (!this.decoder || this.decoder.state === 'closed') {
        this.decoder = new VideoDecoder({
          output: (frame) => this.onDecoded(frame),
          error: (e) => this.onDecoderError(e),
        });
      }
      this.decoder.configure(this.config); // also drops whatever the old configuration still had queued
      this.waitKey = true;
      this.state.keyFrameWaits++;
    } catch (e) {
      this.onDecoderError(e);
    }
  }

  onDecoderError(e) {
    if (this.stopped) return;
    this.state.error = `decoder: ${e.message || e}`;
    this.setStatus(this.state.error, true);
    console.warn('osprey: VideoDecoder error', e);
    // The decoder closes itself on error; the next chunk makes a new one from the last configuration.
    this.waitKey = true;
  }

  onFrame(data) {
    this.received(null);
    if (data.byteLength < 10) return;
    const dv = new DataView(data);
    const timestamp = dv.getUint32(0) * 4294967296 + dv.getUint32(4);
    const key = (dv.getUint8(8) & 1) === 1;
    if (!this.config) return;
    if (!this.decoder || this.decoder.state === 'closed') this.configure();
    if (!this.decoder || this.decoder.state !== 'configured') return;
    if (!this.waitKey && !key && this.decoder.decodeQueueSize > MAX_DECODE_QUEUE) {
      // The decoder cannot keep up: drop to the next key frame rather than show old pictures.
      this.waitKey = true;
      this.state.keyFrameWaits++;
    }
    if (this.waitKey) {
      if (!key) {
        this.state.skipped++;
        return;
      }
      this.waitKey = false;
    }
    try {
      this.decoder.decode(new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data: new Uint8Array(data, 9) }));
    } catch (e) {
      this.onDecoderError(e);
    }
  }

  onDecoded(frame) {
    this.state.decodedFrames++;
    if (this.stopped) {
      frame.close();
      return;
    }
    // Only the newest frame is drawn at the next animation frame; one still waiting is dropped.
    if (this.pending) {
      this.pending.close();
      this.state.skipped++;
    }
    this.pending = frame;
  }

  tick(now) {
    if (this.stopped) return;
    this.raf = requestAnimationFrame((t) => this.tick(t));
    const frame = this.pending;
    if (frame) {
      this.pending = null;
      const canvas = this.state.canvas;
      const w = frame.displayWidth;
      const h = frame.displayHeight;
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
      }
      this.ctx.drawImage(frame, 0, 0, w, h);
      this.state.width = w;
      this.state.height = h;
      // The chunk's timestamp is the capture time in µs since epoch, so it doubles as the probe.
      this.drawn({ counter: ++this.decodedSeq, captureMicros: frame.timestamp }, now);
      frame.close();
    }
    this.updateRates(now);
    if (now - this.lastStats >= STATS_EVERY_MS) {
      this.lastStats = now;
      this.renderStats();
    }
  }

  renderStats() {
    const s = this.state;
    const latency = s.latencyMs === null ? '–' : `${Math.round(s.latencyMs)} ms`;
    this.statsEl.textContent =
      `${s.fps} fps · latency (clocks assumed in sync): ${latency} · ${s.width}×${s.height} · ` +
      `skipped ${s.skipped} · ${s.codec ?? 'no codec yet'} (WebCodecs)`;
  }

  stop() {
    super.stop();
    cancelAnimationFrame(this.raf);
    if (this.pending) this.pending.close();
    this.pending = null;
    if (this.decoder && this.decoder.state !== 'closed') this.decoder.close();
  }
}
