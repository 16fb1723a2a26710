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

module.exports = { money, groupCode, parseEntry, CARD_ID };
