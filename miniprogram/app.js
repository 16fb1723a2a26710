// Kaika member mini-program: login at launch, and the return trip from the card-opening component.
const api = require('./utils/api.js');
const i18n = require('./utils/i18n.js');
const pending = require('./utils/pending.js');
const constants = require('./utils/constants.js');
const { readReturn } = require('./utils/return-trip.js');

const MEMBER_PAGE = '/pages/member/member';
const INDEX_PAGE = '/pages/index/index';
// Codes after which the ticket is spent: the member must open the card again.
const REOPEN = ['ticket_invalid', 'ticket_expired', 'code_invalid', 'card_not_found', 'channel_archived', 'channel_not_found'];
const KEEP_TICKETS = 50;

App({
  globalData: {
    // The member card the last activation returned, so the member page shows it without waiting.
    lastMember: null
  },

  onLaunch() {
    this.api = api.client();
    // In flight or finished, per activate_ticket: one POST per ticket however often onShow replays.
    this.tickets = {};
    this.loadHandledTickets();
    // Log in early so the first page does not wait for it; a failure here is retried by the first call.
    this.api.login().catch(function (err) {
      console.warn('[kaika] login at launch failed:', err.code, err.detail);
    });
  },

  onShow(options) {
    this.handleReturn(options);
  },

  onUnhandledRejection(res) {
    console.error('[kaika] unhandled rejection', res && res.reason);
  },

  /**
   * The seed's 返回说明, step by step. Resolves what happened (for tests and logs):
   * 'ignored' | 'backed_out' | 'duplicate' | 'activated' | 'failed'.
   */
  handleReturn(options) {
    const got = readReturn(options);
    if (got.kind === 'ignored') return Promise.resolve('ignored');
    if (got.kind === 'backed_out') return Promise.resolve(this.backedOut());
    const ticket = got.ticket;
    if (this.tickets[ticket.activate_ticket]) {
      // onShow replayed the same referrerInfo (after the phone slept, or a second show): no new POST.
      return Promise.resolve('duplicate');
    }
    return this.activate(ticket);
  },

  /** No extraData: back to the card the member was opening, with a gentle prompt (not an error). */
  backedOut() {
    const open = pending.take();
    if (!open) {
      // Nothing was being opened from this mini-program (e.g. a replay after we already handled it).
      return 'ignored';
    }
    let url = INDEX_PAGE + '?card=' + encodeURIComponent(open.card_id) + '&resume=1';
    if (open.channel) url += '&channel=' + encodeURIComponent(open.channel);
    this.go(url);
    return 'backed_out';
  },

  /** POST the ticket once, then show the member card. The explicit "try again" button calls it too. */
  activate(ticket) {
    const known = this.tickets[ticket.activate_ticket];
    if (known && known.promise) return known.promise;
    const entry = { promise: null };
    this.tickets[ticket.activate_ticket] = entry;
    this.saveHandledTickets();
    pending.clear();
    wx.showLoading({ title: i18n.text('app.activating'), mask: true });
    const app = this;
    entry.promise = this.api.activate(ticket).then(
      function (member) {
        entry.promise = null;
        wx.hideLoading();
        app.globalData.lastMember = member;
        app.go(MEMBER_PAGE + '?card_id=' + encodeURIComponent(member.card_id));
        return 'activated';
      },
      function (err) {
        entry.promise = null;
        wx.hideLoading();
        app.activationFailed(err, ticket);
        return 'failed';
      }
    );
    return entry.promise;
  },

  activationFailed(err, ticket) {
    const app = this;
    const code = (err && err.code) || 'unknown';
    const message = (err && err.message) || api.messageFor('unknown');
    console.warn('[kaika] activation failed:', code, err && err.detail);
    if (api.isRetryable(err)) {
      wx.showModal({
        title: i18n.text('app.activationFailedTitle'),
        content: message,
        confirmText: i18n.text('common.retry'),
        cancelText: i18n.text('common.close'),
        success: function (res) {
          if (res.confirm) app.activate(ticket);
        }
      });
      return;
    }
    const reopen = REOPEN.indexOf(code) >= 0;
    wx.showModal({
      title: i18n.text('app.activationFailedTitle'),
      content: message,
      showCancel: false,
      confirmText: reopen ? i18n.text('app.reopen') : i18n.text('common.ok'),
      success: function () {
        if (reopen) app.go(INDEX_PAGE + '?card=' + encodeURIComponent(ticket.card_id));
      }
    });
  },

  /** Remember the card being opened (the index page calls this when the navigator is tapped). */
  rememberOpen(cardId, channel) {
    return pending.remember(cardId, channel);
  },

  go(url) {
    wx.reLaunch({
      url: url,
      fail: function (res) {
        console.warn('[kaika] reLaunch failed', url, res && res.errMsg);
      }
    });
  },

  loadHandledTickets() {
    let list = [];
    try {
      list = wx.getStorageSync(constants.HANDLED_TICKETS_KEY) || [];
    } catch (e) {
      list = [];
    }
    if (!Array.isArray(list)) list = [];
    for (let i = 0; i < list.length; i++) {
      if (!this.tickets[list[i]]) this.tickets[list[i]] = { promise: null };
    }
  },

  saveHandledTickets() {
    const list = Object.keys(this.tickets).slice(-KEEP_TICKETS);
    try {
      wx.setStorageSync(constants.HANDLED_TICKETS_KEY, list);
    } catch (e) {
      // The in-memory record still stops replays in this run.
    }
  }
});
