// Small pure helpers shared by the pages.

/** Cents → '12.34' (no currency sign; the page puts ¥ in front). */
function money(cents) {
  const n = Number(cents) || 0;
  const sign = n < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(n));
  const yuan = Math.floor(abs / 100);
  const rest = abs % 100;
  return sign + String(yuan).replace(/\B(?=(\d{3})+(?!\d))/g, ',') + '.' + (rest < 10 ? '0' : '') + rest;
}

/**
 * A ledger amount with its sign: points '+100' / '-50'; balance (cents) '+¥12.34' / '-¥0.50'
 * (`yuan` is the currency sign from the catalogue). Zero has no sign.
 */
function signedAmount(kind, amount, yuan) {
  const n = Math.trunc(Number(amount) || 0);
  const sign = n > 0 ? '+' : n < 0 ? '-' : '';
  const abs = Math.abs(n);
  return sign + (kind === 'balance' ? (yuan || '') + money(abs) : String(abs));
}

/** A ledger total: points '1280'; balance (cents) '¥12.34'. */
function total(kind, value, yuan) {
  const n = Math.trunc(Number(value) || 0);
  return kind === 'balance' ? (n < 0 ? '-' : '') + (yuan || '') + money(Math.abs(n)) : String(n);
}

function pad2(n) {
  return (n < 10 ? '0' : '') + n;
}

/**
 * The server's RFC 3339 time ('2026-11-26T10:00:00.123456Z', '…+08:00') → 'YYYY-MM-DD HH:mm' in the
 * phone's time zone. Parsed by hand: some phones' Date.parse rejects microseconds. Unreadable → as given.
 */
function dateTime(value) {
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i.exec(String(value || ''));
  if (!m) return String(value || '');
  let offsetMin = 0;
  if (m[7] && m[7].toUpperCase() !== 'Z') {
    const digits = m[7].replace(':', '');
    offsetMin = (digits.charAt(0) === '-' ? -1 : 1) * (parseInt(digits.slice(1, 3), 10) * 60 + parseInt(digits.slice(3, 5), 10));
  }
  const utc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)) - offsetMin * 60000;
  const d = new Date(utc);
  return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + pad2(d.getHours()) + ':' + pad2(d.getMinutes());
}

/** '226009850808' → '2260 0985 0808', easier to read out at a counter. */
function groupCode(code) {
  return String(code || '').replace(/(.{4})(?=.)/g, '$1 ');
}

const CARD_ID = /^p[A-Za-z0-9_-]{27}$/;
const OUTER_STR = /^[A-Za-z0-9_-]{1,32}$/;

function decode(value) {
  if (typeof value !== 'string') return '';
  try {
    return decodeURIComponent(value);
  } catch (e) {
    return value;
  }
}

function parsePairs(text) {
  const out = {};
  text.split('&').forEach(function (pair) {
    const at = pair.indexOf('=');
    if (at > 0) out[pair.slice(0, at)] = decode(pair.slice(at + 1));
  });
  return out;
}

/**
 * Which card (and channel) a page was opened for.
 * - a link or a `wx.navigateTo`: `?card=<card_id>&channel=<outer_str>`;
 * - a mini-program code (wxacode.getUnlimited): `scene` holds at most 32 characters, so it is either
 *   `<outer_str>` alone (the card is then the merchant's only card, resolved by the page),
 *   `<card_id>` alone, or the pairs `card=…&channel=…` / `c=…&ch=…` when they fit.
 * Returns { card, channel } with '' for what is not given; invalid values are dropped.
 */
function parseEntry(query) {
  const q = query || {};
  let card = decode(q.card || q.card_id || '');
  let channel = decode(q.channel || '');
  if (!card && !channel && q.scene) {
    const scene = decode(q.scene).trim();
    if (scene.indexOf('=') > 0) {
      const pairs = parsePairs(scene);
      card = pairs.card || pairs.c || '';
      channel = pairs.channel || pairs.ch || '';
    } else if (CARD_ID.test(scene)) {
      card = scene;
    } else {
      channel = scene;
    }
  }
  return {
    card: CARD_ID.test(card) ? card : '',
    channel: OUTER_STR.test(channel) ? channel : ''
  };
}

module.exports = { money, signedAmount, total, dateTime, groupCode, parseEntry, CARD_ID };
