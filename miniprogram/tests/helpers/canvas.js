// A recording stand-in for a `<canvas type="2d">` node, and a rasteriser that turns the recorded
// fillRect calls back into pixels so that the drawn codes can be decoded (jsQR) or read back.

function fakeCanvasNode() {
  const ops = [];
  let style = '#000000';
  const ctx = {
    scale(x, y) {
      ops.push({ op: 'scale', x, y });
    },
    fillRect(x, y, w, h) {
      ops.push({ op: 'fillRect', style, x, y, w, h });
    }
  };
  Object.defineProperty(ctx, 'fillStyle', {
    get: () => style,
    set: (v) => {
      style = v;
    }
  });
  return {
    node: { width: 0, height: 0, getContext: (kind) => (kind === '2d' ? ctx : null) },
    ops
  };
}

/** RGBA pixels of the recorded fills over width x height, each unit drawn as `scale` pixels. */
function rasterise(ops, width, height, scale) {
  const s = scale || 1;
  const W = Math.round(width * s);
  const H = Math.round(height * s);
  const px = new Uint8ClampedArray(W * H * 4).fill(128);
  ops
    .filter((o) => o.op === 'fillRect')
    .forEach((o) => {
      const v = o.style.toLowerCase() === '#ffffff' ? 255 : 0;
      const x0 = Math.max(0, Math.round(o.x * s));
      const y0 = Math.max(0, Math.round(o.y * s));
      const x1 = Math.min(W, Math.round((o.x + o.w) * s));
      const y1 = Math.min(H, Math.round((o.y + o.h) * s));
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * W + x) * 4;
          px[i] = px[i + 1] = px[i + 2] = v;
          px[i + 3] = 255;
        }
      }
    });
  return { data: px, width: W, height: H };
}

/** Reads a barcode back: one row of the raster sampled at the module centres ('1' = black). */
function readBars(image, modules) {
  const row = Math.floor(image.height / 2);
  let bits = '';
  for (let m = 0; m < modules; m++) {
    const x = Math.floor(((m + 0.5) * image.width) / modules);
    bits += image.data[(row * image.width + x) * 4] < 128 ? '1' : '0';
  }
  return bits;
}

module.exports = { fakeCanvasNode, rasterise, readBars };
