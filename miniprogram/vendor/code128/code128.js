/**
 * Code 128 barcode encoder (ISO/IEC 15417), written for Kaika. Plain ES5, no dependencies.
 *
 * encode(text, set?) -> { symbols: [values...], bits: '1101...' }
 *   text: ASCII 32..126 (set B) or digits (set C). `set` forces 'B' or 'C'; without it the encoder uses
 *   set C for runs of 4+ digits (whole text or its tail) and set B elsewhere.
 *   bits: one character per module, '1' = bar, '0' = space, quiet zones not included.
 *
 * Licence: Apache-2.0, see LICENSE beside this file.
 */

// Bar/space widths of symbol values 0..105, then STOP (106, 7 elements).
var PATTERNS = [
  '212222', '222122', '222221', '121223', '121322', '131222', '122213', '122312', '132212', '221213',
  '221312', '231212', '112232', '122132', '122231', '113222', '123122', '123221', '223211', '221132',
  '221231', '213212', '223112', '312131', '311222', '321122', '321221', '312212', '322112', '322211',
  '212123', '212321', '232121', '111323', '131123', '131321', '112313', '132113', '132311', '211313',
  '231113', '231311', '112133', '112331', '132131', '113123', '113321', '133121', '313121', '211331',
  '231131', '213113', '213311', '213131', '311123', '311321', '331121', '312113', '312311', '332111',
  '314111', '221411', '431111', '111224', '111422', '121124', '121421', '141122', '141221', '112214',
  '112412', '122114', '122411', '142112', '142211', '241211', '221114', '413111', '241112', '134111',
  '111242', '121142', '121241', '114212', '124112', '124211', '411212', '421112', '421211', '212141',
  '214121', '412121', '111143', '111341', '131141', '114113', '114311', '411113', '411311', '113141',
  '114131', '311141', '411131', '211412', '211214', '211232', '2331112'
];

var START_B = 104;
var START_C = 105;
var CODE_B = 100; // switch to B while in C
var CODE_C = 99; // switch to C while in B
var STOP = 106;

function isDigits(s) {
  return /^[0-9]+$/.test(s);
}

function checkText(text) {
  if (typeof text !== 'string' || text.length === 0) {
    throw new Error('code128: text must be a non-empty string');
  }
  for (var i = 0; i < text.length; i++) {
    var c = text.charCodeAt(i);
    if (c < 32 || c > 126) {
      throw new Error('code128: unsupported character at ' + i);
    }
  }
}

function pushB(symbols, s) {
  for (var i = 0; i < s.length; i++) {
    symbols.push(s.charCodeAt(i) - 32);
  }
}

function pushC(symbols, digits) {
  for (var i = 0; i < digits.length; i += 2) {
    symbols.push(parseInt(digits.substr(i, 2), 10));
  }
}

/** Chooses the symbol values (start, data, no checksum, no stop). */
function plan(text, set) {
  var symbols = [];
  if (set === 'C') {
    if (!isDigits(text) || text.length % 2 !== 0) {
      throw new Error('code128: set C needs an even number of digits');
    }
    symbols.push(START_C);
    pushC(symbols, text);
    return symbols;
  }
  if (set === 'B') {
    symbols.push(START_B);
    pushB(symbols, text);
    return symbols;
  }
  if (set !== undefined) {
    throw new Error('code128: set must be B or C');
  }
  if (isDigits(text) && text.length >= 2) {
    // All digits: C for the even part, then B for a last odd digit.
    var even = text.length - (text.length % 2);
    symbols.push(START_C);
    pushC(symbols, text.substr(0, even));
    if (even < text.length) {
      symbols.push(CODE_B);
      pushB(symbols, text.substr(even));
    }
    return symbols;
  }
  // Mixed text: B, switching to C for a trailing run of 4+ digits (an even count of them).
  var tail = /[0-9]+$/.exec(text);
  var run = tail ? tail[0].length - (tail[0].length % 2) : 0;
  if (run >= 4) {
    var head = text.substr(0, text.length - run);
    symbols.push(START_B);
    pushB(symbols, head);
    symbols.push(CODE_C);
    pushC(symbols, text.substr(text.length - run));
    return symbols;
  }
  symbols.push(START_B);
  pushB(symbols, text);
  return symbols;
}

function checksum(symbols) {
  var sum = symbols[0];
  for (var i = 1; i < symbols.length; i++) {
    sum += symbols[i] * i;
  }
  return sum % 103;
}

function widthsToBits(widths) {
  var bits = '';
  for (var i = 0; i < widths.length; i++) {
    var bit = i % 2 === 0 ? '1' : '0';
    var n = widths.charCodeAt(i) - 48;
    for (var k = 0; k < n; k++) bits += bit;
  }
  return bits;
}

function encode(text, set) {
  checkText(text);
  var symbols = plan(text, set);
  symbols.push(checksum(symbols));
  symbols.push(STOP);
  var bits = '';
  for (var i = 0; i < symbols.length; i++) {
    bits += widthsToBits(PATTERNS[symbols[i]]);
  }
  return { symbols: symbols, bits: bits };
}

module.exports = { encode: encode, PATTERNS: PATTERNS };
