// YUYV 4:2:2 decoding and drawing for the Osprey page.
//
// Nothing here touches the DOM when the module is imported, so Node can import
// it to check the colour maths (yuyvToRgba, readProbe) without a browser.

// ---------------------------------------------------------------------------
// Colour maths: BT.601, limited ("studio") range, as a camera sends it.
//   R = 1.164(Y-16)               + 1.596(Cr-128)
//   G = 1.164(Y-16) - 0.392(Cb-128) - 0.813(Cr-128)
//   B = 1.164(Y-16) + 2.017(Cb-128)
// The 2D path uses the same coefficients scaled by 256 and rounded
// (298, 409, 100, 208, 516) so the inner loop stays in integers.
// ---------------------------------------------------------------------------

/**
 * Converts a YUYV frame (Y0 U Y1 V per pixel pair) to RGBA.
 * @param {Uint8Array} src  width*height*2 bytes
 * @param {Uint8ClampedArray} dst  width*height*4 bytes; clamping to 0..255 is
 *   done by the array itself on assignment, which is why it must be clamped.
 * @param {number} width  must be even (YUYV pairs pixels)
 * @param {number} height
 */
export function yuyvToRgba(src, dst, width, height) {
  const pairs = (width * height) >> 1;
  for (let i = 0, s = 0, d = 0; i < pairs; i++, s += 4, d += 8) {
    const u = src[s + 1] - 128;
    const v = src[s + 3] - 128;
    // Chroma terms are shared by both pixels of the pair; +128 rounds the >> 8.
    const rc = 409 * v + 128;
    const gc = -100 * u - 208 * v + 128;
    const bc = 516 * u + 128;
    const y0 = 298 * (src[s] - 16);
    const y1 = 298 * (src[s + 2] - 16);
    dst[d] = (y0 + rc) >> 8;
    dst[d + 1] = (y0 + gc) >> 8;
    dst[d + 2] = (y0 + bc) >> 8;
    dst[d + 3] = 255;
    dst[d + 4] = (y1 + rc) >> 8;
    dst[d + 5] = (y1 + gc) >> 8;
    dst[d + 6] = (y1 + bc) >> 8;
    dst[d + 7] = 255;
  }
}

// ---------------------------------------------------------------------------
// Probe header: the first 32 bytes of each frame written by the server's
// test/probe path, little-endian:
//   0 'FOUT' | 4 u32 counter | 8 u64 capture µs since epoch | 16 u16 width
//   18 u16 height | 20 u32 payload size | 24 8 zero bytes
// Frames from a real camera have no header; readProbe then returns null.
// ---------------------------------------------------------------------------

/**
 * @param {ArrayBuffer} buffer
 * @param {number} [offset]  where the header starts (6 in a JPEG: after SOI and the COM marker and length)
 * @returns {{counter:number, captureMicros:number, width:number, height:number, payload:number} | null}
 */
export function readProbe(buffer, offset = 0) {
  if (buffer.byteLength < offset + 32) return null;
  const dv = new DataView(buffer, offset, 32);
  // 'F' 'O' 'U' 'T'
  if (dv.getUint32(0, false) !== 0x464f5554) return null;
  // Two u32 halves instead of getBigUint64: µs since epoch (~2^51) is exact in
  // a double, and it avoids BigInt arithmetic on every frame.
  const captureMicros = dv.getUint32(8, true) + dv.getUint32(12, true) * 4294967296;
  return {
    counter: dv.getUint32(4, true),
    captureMicros,
    width: dv.getUint16(16, true),
    height: dv.getUint16(18, true),
    payload: dv.getUint32(20, true),
  };
}

// ---------------------------------------------------------------------------
// Renderers. Both have the same shape: { kind, canvas, draw(bytes, w, h) }.
// draw() takes the size with every frame so a feed that changes resolution
// just reallocates instead of needing a new player.
// ---------------------------------------------------------------------------

/** 2D canvas fallback: integer conversion into a reused ImageData. */
export function create2dRenderer(canvas) {
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  let image = null;
  return {
    kind: '2d',
    canvas,
    draw(bytes, width, height) {
      if (!image || image.width !== width || image.height !== height) {
        canvas.width = width;
        canvas.height = height;
        image = ctx.createImageData(width, height); // allocated once per size
      }
      yuyvToRgba(bytes, image.data, width, height);
      ctx.putImageData(image, 0, 0);
    },
  };
}

const VERTEX_SHADER = `
attribute vec2 a_pos;
void main() { gl_Position = vec4(a_pos, 0.0, 1.0); }
`;

// Each texel holds one pixel pair (Y0, U, Y1, V). The shader works in output
// pixel coordinates so it can pick Y0 or Y1 by the pixel's x parity; NEAREST
// filtering keeps the bytes of neighbouring pairs from being blended.
const FRAGMENT_SHADER = `
#ifdef GL_FRAGMENT_PRECISION_HIGH
precision highp float;
#else
precision mediump float;
#endif
uniform sampler2D u_tex;
uniform vec2 u_size; // output size in pixels (width, height)
void main() {
  float x = floor(gl_FragCoord.x);
  // gl_FragCoord has its origin bottom-left; the frame's row 0 is the top.
  float y = u_size.y - 1.0 - floor(gl_FragCoord.y);
  vec4 t = texture2D(u_tex, vec2((floor(x * 0.5) + 0.5) / (u_size.x * 0.5), (y + 0.5) / u_size.y)) * 255.0;
  float luma = mod(x, 2.0) < 0.5 ? t.r : t.b;
  float c = 1.164 * (luma - 16.0);
  float cb = t.g - 128.0;
  float cr = t.a - 128.0;
  vec3 rgb = vec3(c + 1.596 * cr, c - 0.392 * cb - 0.813 * cr, c + 2.017 * cb);
  gl_FragColor = vec4(clamp(rgb / 255.0, 0.0, 1.0), 1.0);
}
`;

/** WebGL renderer; returns null when no WebGL context can be had. */
export function createWebglRenderer(canvas) {
  // preserveDrawingBuffer lets tests read the picture back after compositing.
  const attrs = { preserveDrawingBuffer: true, antialias: false, alpha: false, depth: false };
  const gl = canvas.getContext('webgl', attrs) || canvas.getContext('experimental-webgl', attrs);
  if (!gl) return null;

  let res = null;   // GL objects; rebuilt after a context loss
  let texW = 0, texH = 0;

  function compile(type, source) {
    const sh = gl.createShader(type);
    gl.shaderSource(sh, source);
    gl.compileShader(sh);
    if (!gl.getShaderParameter(sh, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(sh) || 'shader compile failed');
    return sh;
  }

  function setup() {
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl.VERTEX_SHADER, VERTEX_SHADER));
    gl.attachShader(prog, compile(gl.FRAGMENT_SHADER, FRAGMENT_SHADER));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog) || 'program link failed');
    gl.useProgram(prog);

    // One triangle strip covering the viewport.
    gl.bindBuffer(gl.ARRAY_BUFFER, gl.createBuffer());
    gl.bufferData(gl.ARRAY_BUFFER, new Float32Array([-1, -1, 1, -1, -1, 1, 1, 1]), gl.STATIC_DRAW);
    const loc = gl.getAttribLocation(prog, 'a_pos');
    gl.enableVertexAttribArray(loc);
    gl.vertexAttribPointer(loc, 2, gl.FLOAT, false, 0, 0);

    const tex = gl.createTexture();
    gl.bindTexture(gl.TEXTURE_2D, tex);
    // Non-power-of-two sizes in WebGL 1 need CLAMP_TO_EDGE and no mipmaps.
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
    gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
    gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1); // rows are tightly packed
    gl.uniform1i(gl.getUniformLocation(prog, 'u_tex'), 0);
    res = { sizeLoc: gl.getUniformLocation(prog, 'u_size') };
    texW = texH = 0; // force a full texImage2D on the next frame
  }

  canvas.addEventListener('webglcontextlost', (e) => { e.preventDefault(); res = null; });
  canvas.addEventListener('webglcontextrestored', () => setup());
  setup();

  return {
    kind: 'webgl',
    canvas,
    draw(bytes, width, height) {
      if (!res) return; // context lost; wait for it to be restored
      if (canvas.width !== width || canvas.height !== height) {
        canvas.width = width;
        canvas.height = height;
      }
      const w2 = width >> 1;
      if (w2 !== texW || height !== texH) {
        // (Re)allocate on size change; later frames only overwrite the pixels.
        gl.texImage2D(gl.TEXTURE_2D, 0, gl.RGBA, w2, height, 0, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
        texW = w2;
        texH = height;
        gl.viewport(0, 0, width, height);
        gl.uniform2f(res.sizeLoc, width, height);
      } else {
        gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, w2, height, gl.RGBA, gl.UNSIGNED_BYTE, bytes);
      }
      gl.drawArrays(gl.TRIANGLE_STRIP, 0, 4);
    },
  };
}
