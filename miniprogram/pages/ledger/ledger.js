// Points and balance of one member card: ?card_id=<card_id>.
//
// The current totals (points, balance, level) from GET /api/v1/me/cards/{card_id}, then the history from
// GET /api/v1/me/cards/{card_id}/ledger, newest first, one page at a time: the first page once the totals
// are shown, the next ones in onReachBottom() until next_cursor is null. The history has its own states
// (loading, error with retry, empty, list); a failed next page keeps the entries already shown and offers
// a retry of that page. Pull-down refresh starts over.
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');
const format = require('../../utils/format.js');

/** Catalogue key of each ledger reason (the server's list); anything newer shows as `reasonOther`. */
const REASON_KEYS = {
  welcome: 'reasonWelcome',
  purchase: 'reasonPurchase',
  redemption: 'reasonRedemption',
  adjustment: 'reasonAdjustment',
  reversal: 'reasonReversal',
  import: 'reasonImport',
  expiry: 'reasonExpiry'
};

/** One server entry → what ledger.wxml shows. */
function row(entry, t) {
  const balance = entry.kind === 'balance';
  return {
    id: entry.id,
    label: t[REASON_KEYS[entry.reason] || 'reasonOther'],
    note: entry.note || '',
    time: format.dateTime(entry.created_at),
    kind: balance ? t.kindBalance : t.kindPoints,
    amount: format.signedAmount(entry.kind, entry.amount, t.yuan),
    direction: entry.amount > 0 ? 'in' : entry.amount < 0 ? 'out' : 'zero',
    after: format.total(entry.kind, entry.resulting_total, t.yuan)
  };
}

Component({
  data: {
    t: i18n.section('ledger'),
    // loading | error | ready (the totals, and whether the page can show anything)
    state: 'loading',
    error: '',
    cardId: '',
    totals: null,
    // loading | error | ready (the first page of the history)
    history: 'loading',
    historyError: '',
    entries: [],
    nextCursor: null,
    // a next page in flight, or its failure (the entries shown stay)
    loadingMore: false,
    moreError: ''
  },

  methods: {
    onLoad(query) {
      const cardId = (query && query.card_id) || '';
      this.setData({ cardId: decodeURIComponent(cardId) });
      wx.setNavigationBarTitle({ title: this.data.t.title });
      return this.load();
    },

    onPullDownRefresh() {
      return this.load().then(function () {
        wx.stopPullDownRefresh();
      });
    },

    onReachBottom() {
      return this.loadMore();
    },

    /** Totals, then the first page of the history. Resolves when the page shows its final state; never rejects. */
    load() {
      const self = this;
      // A newer load() makes the answers of older requests stale.
      const generation = (this._generation = (this._generation || 0) + 1);
      this.setData({
        state: 'loading',
        error: '',
        history: 'loading',
        historyError: '',
        entries: [],
        nextCursor: null,
        loadingMore: false,
        moreError: ''
      });
      if (!this.data.cardId) {
        this.setData({ state: 'error', error: api.messageFor('card_not_found') });
        return Promise.resolve();
      }
      return api
        .client()
        .myCard(this.data.cardId)
        .then(function (m) {
          if (generation !== self._generation) return null;
          self.setData({
            state: 'ready',
            totals: {
              title: m.title,
              color_hex: m.color_hex,
              points: m.points,
              balance: format.money(m.balance_cents),
              level: m.level || i18n.text('member.noLevel'),
              card_url: '/pages/member/member?card_id=' + encodeURIComponent(m.card_id)
            }
          });
          return self.loadHistory(generation);
        })
        .catch(function (err) {
          if (generation !== self._generation) return;
          self.setData({ state: 'error', totals: null, error: (err && err.message) || api.messageFor('unknown') });
        });
    },

    /** The first page of the history (again); never rejects. */
    loadHistory(gen) {
      const self = this;
      const generation = gen || this._generation;
      this.setData({ history: 'loading', historyError: '', entries: [], nextCursor: null, moreError: '' });
      return api
        .client()
        .ledger(this.data.cardId)
        .then(function (page) {
          if (generation !== self._generation) return;
          self.setData({
            history: 'ready',
            entries: page.entries.map(function (e) {
              return row(e, self.data.t);
            }),
            nextCursor: page.next_cursor || null
          });
        })
        .catch(function (err) {
          if (generation !== self._generation) return;
          self.setData({ history: 'error', historyError: (err && err.message) || api.messageFor('unknown') });
        });
    },

    /** The next page, when there is one and none is in flight; never rejects. */
    loadMore() {
      const self = this;
      const d = this.data;
      if (d.state !== 'ready' || d.history !== 'ready' || !d.nextCursor || d.loadingMore) return Promise.resolve();
      const generation = this._generation;
      this.setData({ loadingMore: true, moreError: '' });
      return api
        .client()
        .ledger(d.cardId, d.nextCursor)
        .then(function (page) {
          if (generation !== self._generation) return;
          const seen = {};
          self.data.entries.forEach(function (e) {
            seen[e.id] = true;
          });
          const more = page.entries
            .filter(function (e) {
              return !seen[e.id];
            })
            .map(function (e) {
              return row(e, self.data.t);
            });
          self.setData({
            entries: self.data.entries.concat(more),
            nextCursor: page.next_cursor || null,
            loadingMore: false
          });
        })
        .catch(function (err) {
          if (generation !== self._generation) return;
          self.setData({ loadingMore: false, moreError: (err && err.message) || api.messageFor('unknown') });
        });
    },

    onRetry() {
      return this.load();
    },

    onRetryHistory() {
      return this.loadHistory();
    },

    onRetryMore() {
      return this.loadMore();
    }
  }
});
