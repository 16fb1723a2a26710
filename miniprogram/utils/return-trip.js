// Reading App.onShow's options on the way back from the card-opening component (reference §6.2):
//   1. referrerInfo.appId other than wxeb490c6f9b154ef9 → not ours, stop;
//   2. no extraData → the member backed out (or was already activated);
//   3. extraData {activate_ticket, card_id, code} → activate. In DevTools extraData may be a JSON string.
const constants = require('./constants.js');

/** extraData as an object, or null when absent, empty or unreadable. */
function parseExtraData(raw) {
  let value = raw;
  if (typeof value === 'string') {
    const trimmed = value.trim();
    if (!trimmed) return null;
    try {
      value = JSON.parse(trimmed);
    } catch (e) {
      return null;
    }
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return null;
  if (Object.keys(value).length === 0) return null;
  return value;
}

function text(v) {
  return typeof v === 'string' ? v.trim() : '';
}

/**
 * { kind: 'ignored' } | { kind: 'backed_out' } | { kind: 'activate', ticket: {activate_ticket, card_id, encrypt_code} }
 */
function readReturn(options) {
  const ref = options && options.referrerInfo;
  if (!ref || ref.appId !== constants.CARD_COMPONENT_APP_ID) return { kind: 'ignored' };
  const extra = parseExtraData(ref.extraData);
  if (!extra) return { kind: 'backed_out' };
  const ticket = {
    activate_ticket: text(extra.activate_ticket),
    card_id: text(extra.card_id),
    encrypt_code: text(extra.code)
  };
  if (!ticket.activate_ticket || !ticket.card_id || !ticket.encrypt_code) return { kind: 'backed_out' };
  return { kind: 'activate', ticket: ticket };
}

module.exports = { parseExtraData, readReturn };
