// Fixed by WeChat, not configurable: the card-opening component (会员开卡组件) is the mini-program with
// this AppID ("固定为此 appid，不可改动"). app.json lists it in navigateToMiniProgramAppIdList.
module.exports = {
  CARD_COMPONENT_APP_ID: 'wxeb490c6f9b154ef9',
  // wx storage keys
  SESSION_KEY: 'kaika.session',
  PENDING_OPEN_KEY: 'kaika.pendingOpen',
  HANDLED_TICKETS_KEY: 'kaika.handledTickets'
};
