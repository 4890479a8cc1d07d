// /watch/{feed}: the feed in <osprey-player> (the best protocol it finds), a copyable embed snippet, and a link for
// each protocol the server offers for it (from /api/feeds/{feed}; WebRTC and HLS when the server lists them).
const name = decodeURIComponent(location.pathname.replace(/^\/watch\//, ''));
const feedPath = name.split('/').map(encodeURIComponent).join('/');
const token = new URLSearchParams(location.search).get('token');
const $ = (id) => document.getElementById(id);

document.title = `Osprey: ${name}`;
$('feed-name').textContent = name;

// A server that lets nobody read without a login: say so (a 401's Basic challenge would open the browser's dialog).
const me = token ? null : await fetch('/api/auth/me', { cache: 'no-store' }).then((r) => (r.ok ? r.json() : null)).catch(() => null);
if (me && !me.open && !(me.permissions || []).some((p) => String(p.actions).includes('read'))) {
  const a = document.createElement('a');
  a.href = '/';
  a.textContent = 'log in on the dashboard';
  $('player-box').append('This server needs a login to show feeds: ', a, '.');
  throw new Error('not logged in');
}

const player = document.createElement('osprey-player');
player.setAttribute('src', name);
player.setAttribute('stats', '');
if (token) player.setAttribute('token', token);
player.id = 'player';
$('player-box').append(player);
player.addEventListener('protocol', (e) => {
  $('protocol').textContent = `Trying ${e.detail.protocol}…`;
});
player.addEventListener('statechange', (e) => {
  if (e.detail.status === 'live') {
    const tried = player.stats.tried;
    $('protocol').textContent = `Playing over ${player.protocol}` + (tried.length > 1 ? ` (tried ${tried.join(', ')}: ${Object.entries(player.stats.failures).map(([p, why]) => `${p}: ${why}`).join('; ')})` : '');
  } else if (e.detail.status !== 'connecting') $('protocol').textContent = e.detail.text;
});

const origin = location.origin;
$('snippet').value =
  `<script src="${origin}/osprey-player.js"></script>\n<osprey-player src="${name}"${token ? ' token="…"' : ''} style="width: 640px"></osprey-player>`;
$('copy').onclick = async () => {
  try {
    await navigator.clipboard.writeText($('snippet').value);
    $('copied').textContent = 'copied';
  } catch {
    $('snippet').select();
    $('copied').textContent = 'select and copy (the clipboard needs HTTPS or localhost)';
  }
};

const LINKS = [
  ['whep', 'WebRTC (WHEP): POST an SDP offer', (e) => e.whep ?? e.webrtc],
  ['hls', 'HLS playlist (Safari, VLC, ffplay)', (e) => e.hls],
  ['mp4', 'fragmented MP4 over WebSocket (MSE)', (e) => e.mp4],
  ['h264', 'H.264 access units over WebSocket (WebCodecs)', (e) => e.h264],
  ['mjpeg', 'MJPEG (an <img>, VLC, ffplay)', (e) => e.mjpeg],
  ['jpeg', 'JPEG over WebSocket', (e) => e.jpeg],
  ['snapshot', 'one JPEG', (e) => e.snapshot],
  ['raw', 'raw frames over WebSocket', (e) => e.raw],
  ['ts', 'MPEG-TS over WebSocket (jsmpeg)', (e) => e.ts],
  ['rtsp', 'RTSP', (e) => e.rtsp],
];

async function load() {
  try {
    const r = await fetch(`/api/feeds/${feedPath}${token ? `?token=${encodeURIComponent(token)}` : ''}`, { cache: 'no-store' });
    if (!r.ok) throw new Error(r.status === 404 ? `no feed named '${name}'` : `${r.status}`);
    const feed = await r.json();
    $('feed-state').textContent = `${feed.format} · ${feed.width}×${feed.height} · ${feed.state}`;
    const e = feed.endpoints ?? {};
    const items = [];
    for (const [key, label, get] of LINKS) {
      const path = get(e);
      if (!path) continue;
      const url = /^[a-z]+:\/\//.test(path) ? path : (['mp4', 'h264', 'jpeg', 'raw', 'ts'].includes(key) ? origin.replace(/^http/, 'ws') : origin) + path;
      const li = document.createElement('li');
      li.dataset.kind = key;
      const a = document.createElement('a');
      a.href = url;
      a.textContent = url;
      li.append(`${label}: `, a);
      items.push(li);
    }
    const page = document.createElement('li');
    page.dataset.kind = 'feeds.html';
    const a = document.createElement('a');
    a.href = `/feeds.html?view=${name}:${e.jpeg ? 'jpeg' : e.mp4 ? 'mp4' : 'ts'}`;
    a.textContent = 'every view of this feed on the developer page';
    page.append(a);
    items.push(page);
    $('links').replaceChildren(...items);
  } catch (err) {
    $('feed-state').textContent = err.message;
  }
}

load();
setInterval(load, 5000);
