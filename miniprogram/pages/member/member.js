// The member card: the card face in the card's colour, membership number, the code as a barcode and a
// QR code (drawn on canvas by utils/codes.js), points, balance, level, and a link to the history.
// Opened as ?card_id=<card_id> (after an activation, or from the card list) or without a card (then
// it shows the member's only card, or the list of their cards).
const api = require('../../utils/api.js');
const i18n = require('../../utils/i18n.js');
const format = require('../../utils/format.js');
const codes = require('../../utils/codes.js');

const BARCODE_HEIGHT = 72; // px, CSS
const QR_SIZE = 160; // px, CSS

/** What the WXML shows for one member card. */
function view(m, t) {
  return {
    card_id: m.card_id,
    title: m.title,
    brand_name: m.brand_name,
    color_hex: m.color_hex,
    logo_url: m.logo_url,
    membership_number: m.membership_number || t.none,
    code: m.code,
    code_text: format.groupCode(m.code),
    points: m.points,
    balance: format.money(m.balance_cents),
    level: m.level || t.noLevel,
    status: m.status,
    ledger_url: '/pages/ledger/ledger?card_id=' + encodeURIComponent(m.card_id),
    url: '/pages/member/member?card_id=' + encodeURIComponent(m.card_id)
  };
}

Component({
  data: {
    t: i18n.section('member'),
    // loading | error | card | list | empty | not_member
    state: 'loading',
    error: '',
    member: null,
    cards: [],
    cardId: '',
    barcodeHeight: BARCODE_HEIGHT,
    qrSize: QR_SIZE
  },

  methods: {
    onLoad(query) {
      const cardId = (query && (query.card_id || query.card)) || '';
      this.setData({ cardId: decodeURIComponent(cardId) });
      wx.setNavigationBarTitle({ title: this.data.t.title });
      const app = typeof getApp === 'function' ? getApp() : null;
      const last = app && app.globalData && app.globalData.lastMember;
      if (last && last.card_id === this.data.cardId) {
        // Just activated: show the card at once, then refresh it.
        this.show(last);
      }
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
      if (!this.data.member) this.setData({ state: 'loading', error: '' });
      const work = this.data.cardId
        ? client.myCard(this.data.cardId).then(function (m) {
          self.show(m);
        })
        : client.myCards().then(function (list) {
          if (list.length === 0) self.setData({ state: 'empty' });
          else if (list.length === 1) self.show(list[0]);
          else {
            self.setData({
              state: 'list',
              cards: list.map(function (m) {
                return view(m, self.data.t);
              })
            });
          }
        });
      return work.catch(function (err) {
        if (err && err.code === 'membership_not_found') {
          self.setData({ state: 'not_member', member: null });
        } else if (self.data.member) {
          // The card is already on screen (just activated): keep it, say the refresh failed.
          wx.showToast({ title: (err && err.message) || api.messageFor('unknown'), icon: 'none' });
        } else {
          self.setData({ state: 'error', member: null, error: (err && err.message) || api.messageFor('unknown') });
        }
      });
    },

    show(m) {
      const self = this;
      this.setData({ state: 'card', member: view(m, this.data.t) }, function () {
        self.drawCodes();
      });
    },

    onRetry() {
      return this.load();
    },

    /** Draws both codes once their canvases are laid out. Resolves true when drawn. */
    drawCodes() {
      const self = this;
      const member = this.data.member;
      if (!member || !member.code) return Promise.resolve(false);
      let pixelRatio = 2;
      try {
        const info = wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync();
        pixelRatio = info.pixelRatio || 2;
      } catch (e) {
        pixelRatio = 2;
      }
      return new Promise(function (resolve) {
        self
          .createSelectorQuery()
          .select('#barcode')
          .fields({ node: true, size: true })
          .select('#qrcode')
          .fields({ node: true, size: true })
          .exec(function (res) {
            const bar = res && res[0];
            const qr = res && res[1];
            if (!bar || !bar.node || !qr || !qr.node) {
              console.warn('[kaika] code canvases not found');
              resolve(false);
              return;
            }
            try {
              codes.drawBarcode(codes.prepare(bar.node, bar.width, bar.height, pixelRatio), bar.width, bar.height, member.code);
              codes.drawQr(codes.prepare(qr.node, qr.width, qr.height, pixelRatio), Math.min(qr.width, qr.height), member.code);
              resolve(true);
            } catch (e) {
              console.warn('[kaika] drawing the codes failed', e);
              resolve(false);
            }
          });
      });
    }
  }
});
