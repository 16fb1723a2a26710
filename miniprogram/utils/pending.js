// Which card the member was opening when they tapped the open-card navigator, so that App.onShow can
// bring them back to it when they return without finishing the form. Kept in wx storage as well as in
// memory: in DevTools the return trip is replayed with a fresh compile.
const constants = require('./constants.js');

function remember(cardId, channel) {
  const value = { card_id: cardId, channel: channel || '', at: Date.now() };
  try {
    wx.setStorageSync(constants.PENDING_OPEN_KEY, value);
  } catch (e) {
    // storage unavailable: nothing to resume, which is harmless
  }
  return value;
}

/** The pending card (forgotten after a day), without clearing it. */
function peek() {
  let value = null;
  try {
    value = wx.getStorageSync(constants.PENDING_OPEN_KEY) || null;
  } catch (e) {
    value = null;
  }
  if (!value || typeof value.card_id !== 'string' || Date.now() - (value.at || 0) > 24 * 3600 * 1000) return null;
  return value;
}

function clear() {
  try {
    wx.removeStorageSync(constants.PENDING_OPEN_KEY);
  } catch (e) {
    // nothing stored
  }
}

/** The pending card, cleared: a return trip answers it once. */
function take() {
  const value = peek();
  clear();
  return value;
}

module.exports = { remember, peek, take, clear };
