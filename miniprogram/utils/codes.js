// Draws the member's card code as a Code 128 barcode and a QR code on canvas 2d contexts, with the
// vendored encoders (vendor/README.md says where they come from).
const code128 = require('../vendor/code128/code128.js');
const qrcode = require('../vendor/qrcode-generator/qrcode.js');

const BARCODE_QUIET = 10; // modules of white on each side
const QR_QUIET = 4;

/** Code 128 modules for `text`: a string of '1' (bar) and '0' (space), without quiet zones. */
function barcodeBits(text) {
  return code128.encode(String(text)).bits;
}

/** The QR matrix for `text`: { size, dark(row, col) }, error correction level M, smallest version. */
function qrMatrix(text) {
  const qr = qrcode(0, 'M');
  qr.addData(String(text), 'Byte');
  qr.make();
  const size = qr.getModuleCount();
  return {
    size: size,
    dark: function (row, col) {
      return qr.isDark(row, col);
    }
  };
}

/** Paints the barcode over `width` x `height` (in the context's units), white background included. */
function drawBarcode(ctx, width, height, text) {
  const bits = barcodeBits(text);
  const modules = bits.length + 2 * BARCODE_QUIET;
  const unit = width / modules;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#000000';
  let i = 0;
  while (i < bits.length) {
    if (bits.charAt(i) === '1') {
      let j = i;
      while (j < bits.length && bits.charAt(j) === '1') j++;
      ctx.fillRect((BARCODE_QUIET + i) * unit, 0, (j - i) * unit, height);
      i = j;
    } else {
      i++;
    }
  }
  return { modules: modules, unit: unit };
}

/** Paints the QR code in a `size` x `size` square, white background and quiet zone included. */
function drawQr(ctx, size, text) {
  const m = qrMatrix(text);
  const cells = m.size + 2 * QR_QUIET;
  const unit = size / cells;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = '#000000';
  for (let row = 0; row < m.size; row++) {
    let col = 0;
    while (col < m.size) {
      if (m.dark(row, col)) {
        let end = col;
        while (end < m.size && m.dark(row, end)) end++;
        // Overlap by a hair so that anti-aliasing leaves no seams between cells.
        ctx.fillRect((QR_QUIET + col) * unit, (QR_QUIET + row) * unit, (end - col) * unit + 0.5, unit + 0.5);
        col = end;
      } else {
        col++;
      }
    }
  }
  return { cells: cells, unit: unit };
}

/**
 * Sizes a `<canvas type="2d">` node for the device pixel ratio and returns its context, scaled so that
 * drawing uses CSS pixels.
 */
function prepare(canvas, cssWidth, cssHeight, pixelRatio) {
  const dpr = pixelRatio || 1;
  canvas.width = Math.round(cssWidth * dpr);
  canvas.height = Math.round(cssHeight * dpr);
  const ctx = canvas.getContext('2d');
  ctx.scale(dpr, dpr);
  return ctx;
}

module.exports = { barcodeBits, qrMatrix, drawBarcode, drawQr, prepare, BARCODE_QUIET, QR_QUIET };
