// The vendored encoders and utils/codes.js: what is drawn decodes back to the card code.
const jsQR = require('jsqr');
const JsBarcode = require('jsbarcode');
const code128 = require('../../vendor/code128/code128.js');
const codes = require('../../utils/codes.js');
const { fakeCanvasNode, rasterise, readBars } = require('../helpers/canvas.js');

function jsBarcodeBits(text, format) {
  const target = {};
  JsBarcode(target, text, { format });
  return target.encodings.map((e) => e.data).join('');
}

describe('vendor/code128 against JsBarcode (an independent implementation)', () => {
  test.each(['226009850808', '018255396048', '00', '12345678901234567890'])('set C: %s', (text) => {
    expect(code128.encode(text, 'C').bits).toBe(jsBarcodeBits(text, 'CODE128C'));
  });

  test.each(['KK00000042', 'Hello World!', 'a', '~ !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}'])('set B: %s', (text) => {
    expect(code128.encode(text, 'B').bits).toBe(jsBarcodeBits(text, 'CODE128B'));
  });

  test('every pattern is 11 modules (stop: 13) and all 107 differ', () => {
    expect(code128.PATTERNS).toHaveLength(107);
    code128.PATTERNS.forEach((p, i) => {
      const sum = p.split('').reduce((a, b) => a + Number(b), 0);
      expect([i, sum]).toEqual([i, i === 106 ? 13 : 11]);
    });
    expect(new Set(code128.PATTERNS).size).toBe(107);
  });

  test('automatic sets: digits in C, odd digit count ends in B, text with a digit tail switches to C', () => {
    expect(code128.encode('226009850808').symbols.slice(0, 7)).toEqual([105, 22, 60, 9, 85, 8, 8]);
    expect(code128.encode('12345').symbols.slice(0, 5)).toEqual([105, 12, 34, 100, 21]);
    expect(code128.encode('KK000042').symbols.slice(0, 6)).toEqual([104, 43, 43, 99, 0, 0]);
    expect(code128.encode('A1').symbols.slice(0, 3)).toEqual([104, 33, 17]);
  });

  test('checksum: start + Σ position × value, mod 103', () => {
    const { symbols } = code128.encode('226009850808');
    const data = symbols.slice(0, -2);
    const sum = data.reduce((acc, v, i) => acc + (i === 0 ? v : v * i), 0) % 103;
    expect(symbols[symbols.length - 2]).toBe(sum);
    expect(symbols[symbols.length - 1]).toBe(106);
  });

  test('refuses what it cannot encode', () => {
    expect(() => code128.encode('')).toThrow(/non-empty/);
    expect(() => code128.encode('开卡')).toThrow(/unsupported/);
    expect(() => code128.encode('123', 'C')).toThrow(/even/);
  });
});

describe('utils/codes drawing', () => {
  test('drawBarcode paints the Code 128 modules with quiet zones', () => {
    const { node, ops } = fakeCanvasNode();
    const ctx = codes.prepare(node, 300, 72, 2);
    expect([node.width, node.height]).toEqual([600, 144]);
    expect(ops[0]).toEqual({ op: 'scale', x: 2, y: 2 });
    const { modules } = codes.drawBarcode(ctx, 300, 72, '226009850808');
    const bits = code128.encode('226009850808').bits;
    expect(modules).toBe(bits.length + 2 * codes.BARCODE_QUIET);
    const image = rasterise(ops, 300, 72, 4);
    const quiet = '0'.repeat(codes.BARCODE_QUIET);
    expect(readBars(image, modules)).toBe(quiet + bits + quiet);
  });

  test.each(['226009850808', 'KK00000042', 'https://example.invalid/m?c=018255396048'])('drawQr decodes back to %s', (text) => {
    const { node, ops } = fakeCanvasNode();
    const ctx = codes.prepare(node, 160, 160, 1);
    codes.drawQr(ctx, 160, text);
    const image = rasterise(ops, 160, 160, 2);
    const decoded = jsQR(image.data, image.width, image.height);
    expect(decoded).not.toBeNull();
    expect(decoded.data).toBe(text);
  });

  test('qrMatrix: smallest version for a 12-digit code, with finder patterns', () => {
    const m = codes.qrMatrix('226009850808');
    expect(m.size).toBe(21);
    for (let i = 0; i < 7; i++) {
      expect(m.dark(0, i)).toBe(true);
      expect(m.dark(i, 0)).toBe(true);
    }
    expect(m.dark(1, 1)).toBe(false);
  });
});
