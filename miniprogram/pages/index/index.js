// The merchant's cards, and the open-card button for one of them.
// Opened as /pages/index/index (the list), ?card=<card_id>&channel=<outer_str> (one card), from a
// mini-program code whose `scene` carries the same (utils/format.js parseEntry), or by App.onShow with
// &resume=1 when the member came back from the component without finishing.
//
// Built with the Component constructor (an official way to build a page) so that the tests render it
// with miniprogram-simulate; page lifecycle hooks live in `methods`.
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');
const format = require('../../utils/format.js');
const constants = require('../../utils/constants.js');

Component({
  data: {
    t: i18n.section('index'),
    // loading | error | list | offer | member
    state: 'loading',
    error: '',
    cards: [],
    card: null,
    channel: '',
    resume: false,
    // The navigator's attributes, exactly as GET activation-params returned them.
    appId: '',
    extraData: null
  },

  methods: {
    onLoad(query) {
      const entry = format.parseEntry(query);
      this.entry = entry;
      this.setData({ channel: entry.channel, resume: !!query && query.resume === '1' });
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
      const client = api.client();
      const entry = this.entry || { card: '', channel: '' };
      this.setData({ state: 'loading', error: '' });
      return client
        .getCards()
        .then(function (cards) {
          const list = cards.map(function (c) {
            return Object.assign({}, c, { url: c.held ? '/pages/member/member?card_id=' + encodeURIComponent(c.card_id) : '/pages/index/index?card=' + encodeURIComponent(c.card_id) });
          });
          let card = null;
          if (entry.card) {
            card = list.find(function (c) {
              return c.card_id === entry.card;
            });
            if (!card) throw new api.ApiError('card_not_found');
          } else if (entry.channel && list.length === 1) {
            // A mini-program code with only a channel: the merchant's only card.
            card = list[0];
          }
          if (!card) {
            self.setData({ state: 'list', cards: list });
            return null;
          }
          if (card.held) {
            self.setData({ state: 'member', card: card });
            return null;
          }
          return client.getActivationParams(card.card_id, entry.channel).then(function (params) {
            if (params.app_id !== constants.CARD_COMPONENT_APP_ID) {
              // Never send the member to another mini-program than WeChat's card component.
              throw new api.ApiError('bad_component', { detail: 'app_id ' + params.app_id });
            }
            self.setData({ state: 'offer', card: card, appId: params.app_id, extraData: params.extra_data });
            return null;
          });
        })
        .catch(function (err) {
          self.setData({ state: 'error', error: (err && err.message) || api.messageFor('unknown') });
        });
    },

    onRetry() {
      return this.load();
    },

    /** The navigator was tapped: remember the card so that a return without extraData comes back here. */
    onOpenTap() {
      const card = this.data.card;
      if (card) getApp().rememberOpen(card.card_id, this.data.channel);
    },

    onOpenFail(e) {
      const msg = (e && e.detail && e.detail.errMsg) || '';
      // Cancelling WeChat's "open another mini-program?" dialog is the member's choice, not an error.
      if (msg.indexOf('cancel') >= 0) return;
      console.warn('[kaika] navigator to the card component failed:', msg);
      wx.showToast({ title: this.data.t.openFailed, icon: 'none' });
    }
  }
});
