// Points and balance of one member card: ?card_id=<card_id>.
//
// What it shows today: the current totals (points, balance, level) from GET /api/v1/me/cards/{card_id},
// and a plain sentence that entry-by-entry details are coming. It does not show an empty history: the
// server has no history endpoint yet, so an empty list would claim "no entries" when there may be many.
//
// Where the history plugs in (when the ledger issue lands its endpoint): add `ledger(cardId, cursor)` to
// utils/api.js (with its shape in SHAPES), keep `entries`/`cursor`/`done` in `data`, fetch the first page
// at the end of `load()`, the next ones in `onReachBottom()`, and replace the `history-pending` block in
// ledger.wxml with the list. The totals part stays as it is.
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');
const format = require('../../utils/format.js');

Component({
  data: {
    t: i18n.section('ledger'),
    // loading | error | ready
    state: 'loading',
    error: '',
    cardId: '',
    totals: null
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

    /** Resolves when the page shows its final state; never rejects. */
    load() {
      const self = this;
      this.setData({ state: 'loading', error: '' });
      if (!this.data.cardId) {
        this.setData({ state: 'error', error: api.messageFor('card_not_found') });
        return Promise.resolve();
      }
      return api
        .client()
        .myCard(this.data.cardId)
        .then(function (m) {
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
        })
        .catch(function (err) {
          self.setData({ state: 'error', totals: null, error: (err && err.message) || api.messageFor('unknown') });
        });
    },

    onRetry() {
      return this.load();
    }
  }
});
