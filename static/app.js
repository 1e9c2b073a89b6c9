// llm-proxy dashboard. Plain JavaScript, no build step, no dependencies.
//
// The page loads once; after that its only traffic is one websocket to /ws,
// which sends {"type":"snapshot"} on connect and {"type":"update"} batches
// afterwards. Every string that comes from the server is put into the page
// with textContent, never as HTML: model names are chosen by clients.
(function () {
  'use strict';

  // ---------------------------------------------------------------- i18n

  var I18N = {
    en: {
      title_dash: 'llm-proxy · dashboard',
      title_login: 'llm-proxy · sign in',
      dashboard: 'Live dashboard',
      connecting: 'Connecting…',
      live: 'Live',
      offline: 'Offline',
      reconnecting: 'Disconnected — reconnecting…',
      db_recovered: 'The stats database was damaged and was moved aside to {0} at {1}; a fresh one started (counters and request log start over). Reason: {2}',
      reconnecting_in: 'Disconnected — reconnecting in {0} s',
      logout: 'Log out',
      total_requests: 'Total requests',
      successes: 'Successes',
      failures: 'Failures',
      success_rate: 'Success rate',
      rate_limits: 'Rate limits seen',
      rate_limits_note: 'incl. those a retry recovered',
      uptime: 'Uptime',
      meta_total: '{0} retries · {1} aborted by clients',
      meta_ok: 'tokens {0} in · {1} out',
      meta_fail: '{0} of all requests',
      meta_start: 'since {0}',
      traffic: 'Traffic · last 10 minutes',
      legend_req: 'requests/s',
      legend_fail: 'failures/s',
      legend_lat: 'avg latency',
      waiting: 'Waiting for traffic…',
      chart_foot: 'last minute: {0} req/s · avg latency {1} · {2} failures',
      chart_foot_idle: 'no requests in the last minute',
      tip_req: 'requests/s',
      tip_fail: 'failures',
      tip_lat: 'avg latency',
      targets: 'Upstream targets',
      targets_count: '{0} of {1} ready',
      no_targets: 'No targets reported yet.',
      state_ok: 'ready',
      state_cooling: 'cooling down',
      cooling_until: 'until {0} · {1} left',
      last_error: 'last error: {0} · {1} ago',
      cooldown_capped: 'Retry-After of {0} cut to {1} (MAX_COOLDOWN) · {2} ago',
      state_disabled: 'disabled',
      state_probation: 'on probation',
      cooling_model: 'cooling {0} until {1} · {2} left',
      cooling_capped: ' (capped)',
      disabled_detail: '{0} · next check in {1}',
      probation_detail: '{0} · the next request tries it again',
      routing_error: 'Routing file refused, the running routing stays: {0}',
      served_as: 'served by {0}',
      target_window: 'last 5 min: {0} attempts · {1} errors · p50 {2}',
      by_model: 'By model',
      by_model_sub: 'today / since start',
      m_requests: 'Requests',
      m_failures: 'Failures',
      m_fallbacks: 'Fallbacks',
      m_tokens: 'Tokens in / out',
      recent: 'Latest requests',
      recent_sub: 'newest first · last 50',
      col_time: 'Time',
      col_route: 'Route',
      col_model: 'Model',
      col_stream: 'Stream',
      col_status: 'Status',
      col_retries: 'Retries',
      col_latency: 'Latency',
      col_ttfb: 'TTFB',
      col_tokens: 'Tokens',
      col_target: 'Target',
      no_requests: 'No requests yet. Point a client at this proxy and they show up here live.',
      stream_yes: 'stream',
      show_trail: 'Show the attempt trail',
      footer: 'Live over a websocket · no polling',
      login_title: 'Sign in',
      login_sub: 'Enter an access key to watch the live dashboard.',
      key_label: 'Access key',
      sign_in: 'Sign in',
      invalid_key: 'Invalid key',
      too_many: 'Too many attempts. Wait a minute and try again.',
      lang_toggle: '中文',
      lang_title: '切换到中文',
      chart_aria: 'Requests per second and average latency over the last 10 minutes',
      totals_aria: 'Totals',
      day: 'd',
      outcome_ok: 'ok',
      outcome_rate_limited: 'rate limited',
      outcome_upstream_error: 'upstream error',
      outcome_unreachable: 'upstream unreachable',
      outcome_timeout: 'upstream timeout',
      outcome_stream_broken: 'stream broken',
      outcome_client_gone: 'client left',
      outcome_bad_request: 'bad request',
      reason_ok: 'ok',
      reason_rate_limit: 'rate limit',
      reason_server_error: 'server error',
      reason_connect_error: 'connect error',
      reason_timeout: 'timeout',
      reason_client_error: 'client error',
      reason_stream_error: 'stream error',
      reason_client_gone: 'client left',
      db_down: 'Database unavailable since {0} — records wait in memory ({1} queued, {2} dropped)',
      replicas: 'Replicas',
      replica_alive: 'alive',
      replica_gone: 'gone',
      replica_detail: '{0} · {1} in flight · seen {2} ago',
      replica_this: 'this page'
    },
    zh: {
      title_dash: 'llm-proxy · 仪表盘',
      title_login: 'llm-proxy · 登录',
      dashboard: '实时仪表盘',
      connecting: '连接中…',
      live: '实时',
      offline: '离线',
      reconnecting: '连接已断开 — 正在重连…',
      db_recovered: '统计数据库已损坏，已于 {1} 移至 {0}，并新建了数据库（计数和请求记录从零开始）。原因：{2}',
      reconnecting_in: '连接已断开 — {0} 秒后重连',
      logout: '退出登录',
      total_requests: '总请求数',
      successes: '成功',
      failures: '失败',
      success_rate: '成功率',
      rate_limits: '触发限流',
      rate_limits_note: '含重试后恢复的',
      uptime: '运行时长',
      meta_total: '重试 {0} 次 · 客户端中断 {1} 次',
      meta_ok: 'tokens 输入 {0} · 输出 {1}',
      meta_fail: '占全部请求 {0}',
      meta_start: '启动于 {0}',
      traffic: '流量 · 最近 10 分钟',
      legend_req: '请求/秒',
      legend_fail: '失败/秒',
      legend_lat: '平均延迟',
      waiting: '等待流量…',
      chart_foot: '最近一分钟:{0} 请求/秒 · 平均延迟 {1} · 失败 {2} 次',
      chart_foot_idle: '最近一分钟没有请求',
      tip_req: '请求/秒',
      tip_fail: '失败',
      tip_lat: '平均延迟',
      targets: '上游目标',
      targets_count: '{0} / {1} 可用',
      no_targets: '暂无目标信息。',
      state_ok: '可用',
      state_cooling: '冷却中',
      cooling_until: '至 {0} · 剩余 {1}',
      state_disabled: '已停用',
      state_probation: '试用中',
      cooling_model: '{0} 冷却至 {1} · 剩余 {2}',
      cooling_capped: '（已截断）',
      disabled_detail: '{0} · {1}后复查',
      probation_detail: '{0} · 下一个请求会再试',
      routing_error: '路由文件被拒绝，仍使用原路由:{0}',
      served_as: '实际模型 {0}',
      target_window: '近 5 分钟:{0} 次尝试 · {1} 次错误 · p50 {2}',
      by_model: '按模型',
      by_model_sub: '今天 / 启动以来',
      m_requests: '请求',
      m_failures: '失败',
      m_fallbacks: '回退',
      m_tokens: '输入 / 输出 token',
      last_error: '最近错误:{0} · {1}前',
      cooldown_capped: 'Retry-After {0} 已截短为 {1}(MAX_COOLDOWN)· {2}前',
      recent: '最近请求',
      recent_sub: '最新在前 · 最多 50 条',
      col_time: '时间',
      col_route: '路由',
      col_model: '模型',
      col_stream: '流式',
      col_status: '状态',
      col_retries: '重试',
      col_latency: '延迟',
      col_ttfb: '首字节',
      col_tokens: 'Tokens',
      col_target: '目标',
      no_requests: '暂无请求。将客户端指向本代理后,请求会实时显示在这里。',
      stream_yes: '流式',
      show_trail: '查看尝试记录',
      footer: '通过 websocket 实时推送 · 无轮询',
      login_title: '登录',
      login_sub: '输入访问密钥以查看实时仪表盘。',
      key_label: '访问密钥',
      sign_in: '登录',
      invalid_key: '密钥无效',
      too_many: '尝试次数过多,请稍等一分钟后再试。',
      lang_toggle: 'EN',
      lang_title: 'Switch to English',
      chart_aria: '最近 10 分钟的每秒请求数与平均延迟',
      totals_aria: '汇总',
      day: '天',
      outcome_ok: '成功',
      outcome_rate_limited: '限流',
      outcome_upstream_error: '上游错误',
      outcome_unreachable: '上游无法连接',
      outcome_timeout: '上游超时',
      outcome_stream_broken: '流中断',
      outcome_client_gone: '客户端已离开',
      outcome_bad_request: '请求无效',
      reason_ok: '成功',
      reason_rate_limit: '限流',
      reason_server_error: '服务器错误',
      reason_connect_error: '连接失败',
      reason_timeout: '超时',
      reason_client_error: '客户端错误',
      reason_stream_error: '流错误',
      reason_client_gone: '客户端已离开',
      db_down: '数据库自 {0} 起不可用 — 记录暂存在内存中（排队 {1} 条，丢弃 {2} 条）',
      replicas: '副本',
      replica_alive: '在线',
      replica_gone: '离线',
      replica_detail: '{0} · 进行中 {1} 个 · {2}前可见',
      replica_this: '本页'
    }
  };

  var LANG_KEY = 'llm-proxy.lang';
  var lang = loadLang();

  function loadLang() {
    try {
      var v = window.localStorage.getItem(LANG_KEY);
      if (v === 'zh' || v === 'en') return v;
    } catch (e) { /* storage may be blocked */ }
    return 'en';
  }

  function t(key) {
    var s = (I18N[lang] && I18N[lang][key]) || I18N.en[key] || key;
    for (var i = 1; i < arguments.length; i++) {
      s = s.split('{' + (i - 1) + '}').join(String(arguments[i]));
    }
    return s;
  }

  // tOr translates key when it is known, else returns fallback (for server-sent enums).
  function tOr(key, fallback) {
    return I18N.en[key] !== undefined ? t(key) : fallback;
  }

  var onLangChange = [];

  function applyLang() {
    document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
    var nodes = document.querySelectorAll('[data-i18n]');
    for (var i = 0; i < nodes.length; i++) {
      nodes[i].textContent = t(nodes[i].getAttribute('data-i18n'));
    }
    var labelled = document.querySelectorAll('[data-i18n-aria]');
    for (var k = 0; k < labelled.length; k++) {
      labelled[k].setAttribute('aria-label', t(labelled[k].getAttribute('data-i18n-aria')));
    }
    var toggle = document.getElementById('lang-toggle');
    if (toggle) {
      toggle.textContent = t('lang_toggle');
      toggle.title = t('lang_title');
      toggle.setAttribute('lang', lang === 'zh' ? 'en' : 'zh-CN');
    }
    document.title = t(document.body.classList.contains('login') ? 'title_login' : 'title_dash');
    for (var j = 0; j < onLangChange.length; j++) onLangChange[j]();
  }

  function initLangToggle() {
    var toggle = document.getElementById('lang-toggle');
    if (!toggle) return;
    toggle.addEventListener('click', function () {
      lang = lang === 'zh' ? 'en' : 'zh';
      try { window.localStorage.setItem(LANG_KEY, lang); } catch (e) { /* ignore */ }
      applyLang();
    });
  }

  // ---------------------------------------------------------------- formatting

  function pad2(n) { return n < 10 ? '0' + n : String(n); }

  function fmtInt(n) {
    n = Number(n) || 0;
    return Math.round(n).toLocaleString('en-US');
  }

  function fmtCompact(n) {
    n = Number(n) || 0;
    if (n < 1000) return String(Math.round(n));
    if (n < 1e6) return (n / 1e3).toFixed(n < 1e4 ? 1 : 0).replace(/\.0$/, '') + 'k';
    if (n < 1e9) return (n / 1e6).toFixed(n < 1e7 ? 2 : 1).replace(/\.?0+$/, '') + 'M';
    return (n / 1e9).toFixed(2).replace(/\.?0+$/, '') + 'B';
  }

  function fmtMs(ms) {
    ms = Number(ms) || 0;
    if (ms < 1) return ms > 0 ? '<1 ms' : '0 ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    if (ms < 10000) return (ms / 1000).toFixed(2) + ' s';
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    var s = Math.round(ms / 1000);
    return Math.floor(s / 60) + 'm ' + pad2(s % 60) + 's';
  }

  function fmtMsAxis(ms) {
    if (ms >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 0 : 1).replace(/\.0$/, '') + 's';
    return Math.round(ms) + 'ms';
  }

  function fmtClock(d) {
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes()) + ':' + pad2(d.getSeconds());
  }

  function fmtDateTime(d) {
    return d.getFullYear() + '-' + pad2(d.getMonth() + 1) + '-' + pad2(d.getDate()) + ' ' + fmtClock(d);
  }

  function fmtUptime(sec) {
    sec = Math.max(0, Math.floor(sec));
    var d = Math.floor(sec / 86400);
    var h = Math.floor((sec % 86400) / 3600);
    var m = Math.floor((sec % 3600) / 60);
    var s = sec % 60;
    var hms = pad2(h) + ':' + pad2(m) + ':' + pad2(s);
    return d > 0 ? d + t('day') + ' ' + hms : hms;
  }

  function fmtSpan(sec) {
    sec = Math.max(0, Math.round(sec));
    if (sec < 60) return sec + 's';
    if (sec < 3600) return Math.floor(sec / 60) + 'm ' + pad2(sec % 60) + 's';
    if (sec < 86400) return Math.floor(sec / 3600) + 'h ' + pad2(Math.floor((sec % 3600) / 60)) + 'm';
    return Math.floor(sec / 86400) + 'd';
  }

  function fmtPct(f) {
    var p = f * 100;
    if (p >= 99.995) return '100%';
    return p.toFixed(1) + '%';
  }

  function parseTime(s) {
    var ms = Date.parse(s);
    return isNaN(ms) ? null : ms;
  }

  // ---------------------------------------------------------------- DOM helpers

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function setText(node, text) {
    text = String(text);
    if (node && node.textContent !== text) node.textContent = text;
  }

  // ---------------------------------------------------------------- login page

  function initLogin() {
    initLangToggle();
    applyLang();
    var input = $('key');
    if (input) input.focus();
  }

  // ---------------------------------------------------------------- dashboard

  var RECENT_MAX = 50;
  var WINDOW_S = 600;

  var state = {
    conn: 'connecting',
    retryAt: 0,
    haveSnapshot: false,
    skew: 0,              // server clock minus client clock, ms
    startTime: null,      // ms since epoch
    totals: null,
    targets: [],
    recent: [],           // newest first
    ids: new Set(),
    series: new Map(),    // unix second -> {t, requests, failures, avg_latency_ms}
    expanded: new Set(),
    freshUntil: new Map(), // event id -> ms until which its row is highlighted
    replica: '',          // this replica's name (REPLICA_NAME)
    database: null,       // {ok, since, dropped, queued} with a store
    replicas: []          // replicas sharing the store (PostgreSQL)
  };

  function serverNow() { return Date.now() + state.skew; }

  // ----- websocket with exponential backoff

  var ws = null;
  var attempt = 0;
  var failedOpens = 0;
  var retryTimer = 0;

  function wsURL() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws';
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = 0;
    if (state.conn !== 'reconnecting') setConn('connecting');
    var opened = false;
    var sock;
    try {
      sock = new WebSocket(wsURL());
    } catch (e) {
      scheduleReconnect();
      return;
    }
    ws = sock;
    sock.onopen = function () {
      opened = true;
      attempt = 0;
      failedOpens = 0;
    };
    sock.onmessage = function (ev) {
      if (sock !== ws) return;
      var msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (!msg || typeof msg !== 'object') return;
      if (msg.type === 'snapshot' && msg.data) {
        applySnapshot(msg.data);
        setConn('live');
      } else if (msg.type === 'update' && msg.data) {
        applyUpdate(msg.data);
      }
    };
    sock.onclose = function (ev) {
      if (sock !== ws) return;
      ws = null;
      if (ev.code === 4001) { // session ended: the server sends us back to the login form
        location.reload();
        return;
      }
      if (!opened) failedOpens++;
      scheduleReconnect();
    };
    sock.onerror = function () { /* onclose follows */ };
  }

  function scheduleReconnect() {
    var base = Math.min(10000, 500 * Math.pow(2, attempt));
    var delay = Math.round(base * (0.75 + Math.random() * 0.5));
    if (delay > 10000) delay = 10000;
    attempt++;
    state.retryAt = Date.now() + delay;
    setConn('reconnecting');
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () {
      // After the handshake failed twice in a row, ask once whether the session
      // is still valid (the browser hides the handshake's HTTP status from
      // scripts). This only happens while disconnected.
      if (failedOpens >= 2 && failedOpens % 2 === 0) {
        checkSession().then(connect, connect);
      } else {
        connect();
      }
    }, delay);
    updateBanner();
  }

  function checkSession() {
    return fetch('/api/stats', { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (r.status === 401) location.reload();
      });
  }

  function setConn(c) {
    state.conn = c;
    document.body.setAttribute('data-conn', c);
    var text = c === 'live' ? t('live') : c === 'reconnecting' ? t('offline') : t('connecting');
    setText($('conn-text'), text);
    updateBanner();
  }

  function updateBanner() {
    if (state.conn !== 'reconnecting') return;
    var left = Math.ceil((state.retryAt - Date.now()) / 1000);
    setText($('banner-text'), retryTimer && left > 0 ? t('reconnecting_in', left) : t('reconnecting'));
  }

  // ----- applying server messages

  function applySnapshot(s) {
    var now = parseTime(s.now);
    if (now !== null) state.skew = now - Date.now();
    state.startTime = parseTime(s.start_time);
    state.totals = s.totals || null;
    state.targets = Array.isArray(s.targets) ? s.targets : [];
    var dbNote = $('db-notice');
    if (dbNote) {
      var rec = s.database && s.database.recovered;
      dbNote.hidden = !rec;
      if (rec) {
        var recAt = parseTime(rec.at);
        setText(dbNote, t('db_recovered', rec.moved_to || '?', recAt !== null ? new Date(recAt).toLocaleString() : '?', rec.reason || ''));
      }
    }
    renderRouting(s.routing);
    state.targetStats = Array.isArray(s.target_stats) ? s.target_stats : [];
    renderModels(s.models);
    var recent = Array.isArray(s.recent) ? s.recent.slice(0, RECENT_MAX) : [];
    var firstLoad = !state.haveSnapshot;
    var fresh = [];
    if (!firstLoad) {
      for (var i = 0; i < recent.length; i++) {
        if (!state.ids.has(recent[i].id)) fresh.push(recent[i].id);
      }
    }
    state.recent = recent;
    state.ids = new Set(recent.map(function (e) { return e.id; }));
    markFresh(fresh);
    state.series = new Map();
    if (Array.isArray(s.series)) {
      for (var j = 0; j < s.series.length; j++) addPoint(s.series[j]);
    }
    state.replica = s.replica || '';
    applyStatus(s);
    state.haveSnapshot = true;
    renderAll();
  }

  // applyStatus takes the store's state and the replicas list (snapshot and
  // updates carry them when there is a store / several replicas).
  function applyStatus(m) {
    if (m.database) state.database = m.database;
    if (Array.isArray(m.replicas)) state.replicas = m.replicas;
    renderStatus();
  }

  function renderStatus() {
    var db = state.database;
    var down = !!(db && db.ok === false);
    document.body.setAttribute('data-db', down ? 'down' : 'ok');
    if (down) {
      var since = db.since ? parseTime(db.since) : null;
      setText($('db-banner-text'), t('db_down', since !== null ? fmtClock(new Date(since - state.skew)) : '?',
        fmtInt(db.queued || 0), fmtInt(db.dropped || 0)));
    }
    var card = $('replicas-card');
    var list = $('replicas');
    if (!card || !list) return;
    var rs = state.replicas || [];
    card.hidden = rs.length === 0;
    var now = serverNow();
    var frag = document.createDocumentFragment();
    var alive = 0;
    for (var i = 0; i < rs.length; i++) {
      var r = rs[i] || {};
      if (r.alive) alive++;
      var li = el('li', 'target' + (r.alive ? '' : ' cooling'));
      var line = el('div', 'target-line');
      line.appendChild(el('span', 'target-name', (r.name || '?') + (r.name === state.replica ? ' (' + t('replica_this') + ')' : '')));
      line.appendChild(el('span', 'chip chip-dot ' + (r.alive ? 'chip-ok' : 'chip-warn'),
        r.alive ? t('replica_alive') : t('replica_gone')));
      li.appendChild(line);
      var seen = r.last_seen ? parseTime(r.last_seen) : null;
      li.appendChild(el('div', 'target-detail', t('replica_detail', r.version || '?', fmtInt(r.in_flight || 0),
        seen !== null ? fmtSpan(Math.max(0, (now - seen) / 1000)) : '?')));
      frag.appendChild(li);
    }
    list.replaceChildren(frag);
    setText($('replicas-count'), alive + '/' + rs.length);
  }

  function applyUpdate(u) {
    if (Array.isArray(u.events) && u.events.length) {
      var fresh = [];
      for (var i = 0; i < u.events.length; i++) { // oldest first
        var e = u.events[i];
        if (!e || state.ids.has(e.id)) continue;
        state.recent.unshift(e);
        state.ids.add(e.id);
        fresh.push(e.id);
      }
      while (state.recent.length > RECENT_MAX) {
        var gone = state.recent.pop();
        state.ids.delete(gone.id);
        state.expanded.delete(gone.id);
      }
      markFresh(fresh);
      renderRecent();
    }
    if (u.totals) {
      state.totals = u.totals;
      renderTotals();
    }
    if (Array.isArray(u.target_stats)) state.targetStats = u.target_stats;
    if (Array.isArray(u.targets)) {
      state.targets = u.targets;
      renderTargets();
    }
    renderRouting(u.routing);
    if (u.models) renderModels(u.models);
    if (Array.isArray(u.points) && u.points.length) {
      for (var pi = 0; pi < u.points.length; pi++) addPoint(u.points[pi]);
      requestChart();
    }
    applyStatus(u);
  }

  // addPoint stores one per-second point; a later point for the same second
  // replaces the earlier one (it carries that second's totals so far).
  function addPoint(p) {
    if (!p || typeof p.t !== 'number') return;
    state.series.set(p.t, p);
  }

  function markFresh(ids) {
    var until = Date.now() + 1600;
    for (var i = 0; i < ids.length; i++) state.freshUntil.set(ids[i], until);
  }

  // ----- rendering: totals

  function bump(node) {
    node.classList.remove('bump');
    void node.offsetWidth; // restart the animation
    node.classList.add('bump');
  }

  function setKPI(id, text, raw) {
    var node = document.querySelector('[data-testid="' + id + '"]');
    if (!node) return;
    if (node.textContent !== text) {
      var had = node.textContent !== '—';
      node.textContent = text;
      if (had) bump(node);
    }
    if (raw !== undefined) node.setAttribute('data-value', String(raw));
  }

  function renderTotals() {
    var x = state.totals;
    if (!x) return;
    var req = x.requests || 0;
    setKPI('total-requests', fmtInt(req), req);
    setKPI('success-count', fmtInt(x.successes), x.successes || 0);
    setKPI('failure-count', fmtInt(x.failures), x.failures || 0);
    setKPI('success-rate', req > 0 ? fmtPct(x.success_rate || 0) : '—', x.success_rate || 0);
    setKPI('rate-limit-count', fmtInt(x.rate_limits), x.rate_limits || 0);
    setText($('meta-total'), t('meta_total', fmtInt(x.retries), fmtInt(x.client_gone)));
    setText($('meta-ok'), t('meta_ok', fmtCompact(x.input_tokens), fmtCompact(x.output_tokens)));
    setText($('meta-fail'), t('meta_fail', req > 0 ? fmtPct((x.failures || 0) / req) : '—'));
    var bar = $('rate-bar');
    if (bar) bar.style.width = (req > 0 ? Math.max(0, Math.min(1, x.success_rate || 0)) * 100 : 0) + '%';
  }

  function renderClock() {
    if (state.startTime === null) return;
    var up = (serverNow() - state.startTime) / 1000;
    var node = document.querySelector('[data-testid="uptime"]');
    setText(node, fmtUptime(up));
    if (node) node.setAttribute('data-value', String(Math.max(0, Math.floor(up))));
    setText($('meta-start'), t('meta_start', fmtDateTime(new Date(state.startTime))));
  }

  // ----- rendering: targets

  function renderTargets() {
    var list = $('targets');
    if (!list) return;
    var now = serverNow();
    var frag = document.createDocumentFragment();
    var ready = 0;
    for (var i = 0; i < state.targets.length; i++) {
      var tg = state.targets[i] || {};
      var until = tg.cooling_until ? parseTime(tg.cooling_until) : null;
      // A cool-down that has passed is over even if no update arrived since.
      var cooling = tg.state === 'cooling' && until !== null && until > now;
      var disabled = tg.state === 'disabled', probation = tg.state === 'probation';
      if (!cooling && !disabled) ready++;
      var li = el('li', 'target' + (cooling ? ' cooling' : '') + (disabled ? ' disabled' : ''));
      var line = el('div', 'target-line');
      line.appendChild(el('span', 'target-name', tg.name || '?'));
      var chipClass = disabled ? 'chip-fail' : (cooling || probation) ? 'chip-warn' : 'chip-ok';
      var chipText = disabled ? t('state_disabled') : probation ? t('state_probation') : cooling ? t('state_cooling') : t('state_ok');
      line.appendChild(el('span', 'chip chip-dot ' + chipClass, chipText));
      li.appendChild(line);
      if (Array.isArray(tg.cooling) && tg.cooling.length) {
        // A routing file: one line per cooling model.
        for (var k = 0; k < tg.cooling.length; k++) {
          var cm = tg.cooling[k], cu = parseTime(cm.until);
          if (cu === null || cu <= now) continue;
          li.appendChild(el('div', 'target-detail',
            t('cooling_model', cm.model || '*', fmtClock(new Date(cu - state.skew)), fmtSpan((cu - now) / 1000)) + (cm.capped ? t('cooling_capped') : '')));
        }
      } else if (cooling) {
        li.appendChild(el('div', 'target-detail',
          t('cooling_until', fmtClock(new Date(until - state.skew)), fmtSpan((until - now) / 1000))));
      }
      if (tg.disabled) {
        var next = parseTime(tg.disabled.next_check);
        li.appendChild(el('div', 'target-err target-disabled', probation ? t('probation_detail', tg.disabled.reason) :
          t('disabled_detail', tg.disabled.reason, fmtSpan(next !== null ? Math.max(0, (next - now) / 1000) : 0))));
      }
      var win = windowOf(tg.name);
      if (win && win.requests) {
        li.appendChild(el('div', 'target-detail target-window',
          t('target_window', win.requests, win.errors, fmtMs(win.p50_ms))));
      }
      var cap = tg.cooldown_capped;
      if (cap) {
        var capAt = parseTime(cap.at);
        li.appendChild(el('div', 'target-err target-capped',
          t('cooldown_capped', fmtSpan(cap.asked_seconds), fmtSpan(cap.capped_seconds), fmtSpan((now - capAt) / 1000))));
      }
      if (tg.last_error) {
        var at = tg.last_error_at ? parseTime(tg.last_error_at) : null;
        var txt = at !== null ? t('last_error', tg.last_error, fmtSpan((now - at) / 1000)) : tg.last_error;
        li.appendChild(el('div', 'target-err', txt));
      }
      frag.appendChild(li);
    }
    list.replaceChildren(frag);
    setText($('targets-count'), state.targets.length ? t('targets_count', ready, state.targets.length) : '');
    var empty = $('targets-empty');
    if (empty) empty.hidden = state.targets.length > 0;
  }

  // ----- rendering: routing file figures

  function windowOf(name) {
    var ws = state.targetStats || [];
    for (var i = 0; i < ws.length; i++) if (ws[i].name === name) return ws[i];
    return null;
  }

  function fmtMs(ms) {
    if (typeof ms !== 'number') return '—';
    return ms >= 1000 ? (ms / 1000).toFixed(2) + ' s' : Math.round(ms) + ' ms';
  }

  function renderModels(m) {
    var card = $('models-card'), body = $('models');
    if (!card || !body) return;
    if (!m || !Array.isArray(m.since_start)) { card.hidden = true; return; }
    card.hidden = false;
    var today = {};
    (m.today || []).forEach(function (r) { today[r.model] = r; });
    var frag = document.createDocumentFragment();
    m.since_start.slice(0, 30).forEach(function (r) {
      var d = today[r.model] || {requests: 0, failures: 0, fallbacks: 0, input_tokens: 0, output_tokens: 0};
      var tr = el('tr');
      tr.appendChild(el('td', 'model mono', r.model || '—'));
      tr.appendChild(el('td', 'num', d.requests + ' / ' + r.requests));
      tr.appendChild(el('td', 'num', d.failures + ' / ' + r.failures));
      tr.appendChild(el('td', 'num', d.fallbacks + ' / ' + r.fallbacks));
      tr.appendChild(el('td', 'num', (d.input_tokens + '/' + d.output_tokens) + ' · ' + (r.input_tokens + '/' + r.output_tokens)));
      frag.appendChild(tr);
    });
    body.replaceChildren(frag);
  }

  // ----- rendering: the routing file's reload status

  function renderRouting(r) {
    var banner = $('routing-banner');
    if (!banner) return;
    var err = r && r.error;
    banner.hidden = !err;
    setText(banner, err ? t('routing_error', err) : '');
  }

  // ----- rendering: recent requests

  var rowCache = new Map();   // event id -> <tr>
  var trailCache = new Map(); // event id -> <tr>

  var COLS = ['col_time', 'col_route', 'col_model', 'col_stream', 'col_status',
    'col_retries', 'col_latency', 'col_ttfb', 'col_tokens', 'col_target'];

  function statusClass(code) {
    if (code >= 200 && code < 300) return 'chip-ok';
    if (code === 429) return 'chip-warn';
    if (code === 499 || !code) return '';
    return 'chip-fail';
  }

  function retriesOf(e) {
    return Array.isArray(e.attempts) && e.attempts.length > 1 ? e.attempts.length - 1 : 0;
  }

  function hasTrail(e) {
    return retriesOf(e) > 0 || !!e.error;
  }

  function cell(tr, i, cls) {
    var td = el('td', 'c-' + COLS[i].slice(4) + (cls ? ' ' + cls : ''));
    td.setAttribute('data-label', t(COLS[i]));
    tr.appendChild(td);
    return td;
  }

  function buildRow(e) {
    var tr = el('tr', 'ev');
    var when = parseTime(e.time);

    var c0 = cell(tr, 0, 'mono muted');
    c0.textContent = when !== null ? fmtClock(new Date(when)) : '—';
    if (when !== null) c0.title = fmtDateTime(new Date(when));

    var c1 = cell(tr, 1, 'route mono');
    c1.appendChild(el('span', 'fam fam-' + (e.family === 'anthropic' ? 'anthropic' : e.family === 'openai' ? 'openai' : 'other')));
    c1.appendChild(document.createTextNode(e.route || '—'));
    c1.title = (e.method ? e.method + ' ' : '') + (e.route || '');

    var c2 = cell(tr, 2, 'model');
    c2.textContent = e.model || '—';
    if (e.model) c2.title = e.model;
    if (e.served_model && e.served_model !== e.model) {
      // A routing file's alias or fallback: the model that answered.
      c2.appendChild(el('div', 'served-model muted', t('served_as', e.served_model)));
      c2.title = e.model + ' → ' + e.served_model;
    }

    var c3 = cell(tr, 3);
    if (e.stream) c3.appendChild(el('span', 'chip chip-info', t('stream_yes')));
    else { c3.textContent = '—'; c3.classList.add('muted'); }

    var c4 = cell(tr, 4);
    var chip = el('span', 'chip ' + statusClass(e.status), e.status ? e.status : '—');
    var why = tOr('outcome_' + e.outcome, e.outcome || '');
    chip.title = e.error ? why + ': ' + e.error : why;
    c4.appendChild(chip);

    var c5 = cell(tr, 5, 'num');
    var n = retriesOf(e);
    if (hasTrail(e)) {
      var btn = el('button', 'trail-btn' + (n > 0 ? '' : ' info'));
      btn.type = 'button';
      btn.setAttribute('aria-expanded', state.expanded.has(e.id) ? 'true' : 'false');
      btn.title = t('show_trail');
      btn.appendChild(el('span', '', n));
      btn.appendChild(el('span', 'caret', '▸'));
      btn.addEventListener('click', function () {
        if (state.expanded.has(e.id)) state.expanded.delete(e.id);
        else state.expanded.add(e.id);
        btn.setAttribute('aria-expanded', state.expanded.has(e.id) ? 'true' : 'false');
        renderRecent();
      });
      c5.appendChild(btn);
    } else {
      c5.textContent = '0';
      c5.classList.add('muted');
    }

    cell(tr, 6, 'num').textContent = fmtMs(e.latency_ms);
    var c7 = cell(tr, 7, 'num');
    c7.textContent = e.ttfb_ms > 0 ? fmtMs(e.ttfb_ms) : '—';

    var c8 = cell(tr, 8, 'num');
    if (e.input_tokens || e.output_tokens) {
      c8.appendChild(el('span', 'tok-in', fmtCompact(e.input_tokens)));
      c8.appendChild(el('span', 'tok-sep', '→'));
      c8.appendChild(el('span', '', fmtCompact(e.output_tokens)));
      c8.title = (e.input_tokens || 0) + ' → ' + (e.output_tokens || 0);
    } else {
      c8.textContent = '—';
      c8.classList.add('muted');
    }

    var c9 = cell(tr, 9, 'mono');
    c9.textContent = e.target || '—';
    return tr;
  }

  function buildTrail(e) {
    var tr = el('tr', 'trail');
    var td = el('td');
    td.colSpan = COLS.length;
    var list = el('ol', 'trail-list');
    var atts = Array.isArray(e.attempts) ? e.attempts : [];
    for (var i = 0; i < atts.length; i++) {
      var a = atts[i] || {};
      if (i > 0) list.appendChild(el('li', 'trail-arrow', '→'));
      var li = el('li', 'trail-step');
      li.appendChild(el('span', 'n', '#' + (i + 1)));
      li.appendChild(el('span', 'mono', a.target || '—'));
      li.appendChild(el('span', 'chip ' + statusClass(a.status), a.status ? a.status : '—'));
      li.appendChild(el('span', '', tOr('reason_' + a.reason, a.reason || '')));
      li.appendChild(el('span', 'muted', fmtMs(a.duration_ms)));
      list.appendChild(li);
    }
    td.appendChild(list);
    if (e.error) td.appendChild(el('div', 'trail-error', e.error));
    tr.appendChild(td);
    return tr;
  }

  function renderRecent() {
    var body = $('recent-body');
    if (!body) return;
    var now = Date.now();
    var want = [];
    var keep = new Set();
    for (var i = 0; i < state.recent.length; i++) {
      var e = state.recent[i];
      keep.add(e.id);
      var tr = rowCache.get(e.id);
      if (!tr) {
        tr = buildRow(e);
        rowCache.set(e.id, tr);
        var until = state.freshUntil.get(e.id);
        if (until && until > now) tr.classList.add('fresh');
      }
      want.push(tr);
      if (state.expanded.has(e.id) && hasTrail(e)) {
        var tt = trailCache.get(e.id);
        if (!tt) { tt = buildTrail(e); trailCache.set(e.id, tt); }
        want.push(tt);
      }
    }
    // Move as few nodes as possible: re-inserting a row restarts its animation.
    var cur = body.firstChild;
    for (var k = 0; k < want.length; k++) {
      if (want[k] === cur) { cur = cur.nextSibling; continue; }
      body.insertBefore(want[k], cur);
    }
    while (cur) { var next = cur.nextSibling; body.removeChild(cur); cur = next; }
    rowCache.forEach(function (_, id) { if (!keep.has(id)) rowCache.delete(id); });
    trailCache.forEach(function (_, id) { if (!keep.has(id) || !state.expanded.has(id)) trailCache.delete(id); });
    state.freshUntil.forEach(function (until, id) { if (until <= now) state.freshUntil.delete(id); });
    var empty = $('recent-empty');
    if (empty) empty.hidden = state.recent.length > 0;
  }

  // ----- chart (hand-drawn on a canvas)

  var chart = { canvas: null, box: null, w: 0, h: 0, dpr: 1, hoverX: -1, colors: null, pending: false, buckets: null };

  function readColors() {
    var cs = getComputedStyle(document.documentElement);
    function v(name) { return cs.getPropertyValue(name).trim(); }
    chart.colors = {
      accent: v('--accent'), fail: v('--fail'), lat: v('--lat'), grid: v('--grid'),
      muted: v('--muted'), faint: v('--faint'), text: v('--text'), surface: v('--surface'), border: v('--border')
    };
    chart.font = getComputedStyle(document.body).fontFamily;
  }

  function sizeChart() {
    if (!chart.box) return;
    var r = chart.box.getBoundingClientRect();
    chart.dpr = window.devicePixelRatio || 1;
    chart.w = r.width;
    chart.h = r.height;
    chart.canvas.width = Math.max(1, Math.round(r.width * chart.dpr));
    chart.canvas.height = Math.max(1, Math.round(r.height * chart.dpr));
    drawChart();
  }

  function requestChart() {
    if (chart.pending) return;
    chart.pending = true;
    var run = function () { chart.pending = false; drawChart(); };
    if (document.hidden) setTimeout(run, 250);
    else window.requestAnimationFrame(run);
  }

  function niceCeil(x) {
    if (x <= 0) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(x)));
    var f = x / p;
    var n = f <= 1 ? 1 : f <= 2 ? 2 : f <= 2.5 ? 2.5 : f <= 5 ? 5 : 10;
    return n * p;
  }

  function fmtRate(r) {
    if (r === 0) return '0';
    if (r < 1) return r.toFixed(2).replace(/0+$/, '').replace(/\.$/, '');
    if (r < 10) return r.toFixed(1).replace(/\.0$/, '');
    return fmtCompact(r);
  }

  function roundRectTop(ctx, x, y, w, h, r) {
    r = Math.min(r, w / 2, h);
    ctx.beginPath();
    ctx.moveTo(x, y + h);
    ctx.lineTo(x, y + r);
    ctx.quadraticCurveTo(x, y, x + r, y);
    ctx.lineTo(x + w - r, y);
    ctx.quadraticCurveTo(x + w, y, x + w, y + r);
    ctx.lineTo(x + w, y + h);
    ctx.closePath();
    ctx.fill();
  }

  function drawChart() {
    var cv = chart.canvas;
    if (!cv || chart.w < 10 || chart.h < 10) return;
    if (!chart.colors) readColors();
    var C = chart.colors;
    var ctx = cv.getContext('2d');
    var W = chart.w, H = chart.h;
    ctx.setTransform(chart.dpr, 0, 0, chart.dpr, 0, 0);
    ctx.clearRect(0, 0, W, H);

    var B = W < 560 ? 10 : 5;                 // seconds per bar
    var n = WINDOW_S / B;
    var nowS = serverNow() / 1000;
    var end = Math.floor(nowS / B) * B + B;   // end of the bar that holds "now"
    var start = end - WINDOW_S;

    var req = new Array(n).fill(0), fail = new Array(n).fill(0), lat = new Array(n).fill(0);
    state.series.forEach(function (p, ts) {
      if (ts < start - 120) { state.series.delete(ts); return; }
      if (ts < start || ts >= end) return;
      var i = Math.floor((ts - start) / B);
      var r = p.requests || 0;
      req[i] += r;
      fail[i] += p.failures || 0;
      lat[i] += (p.avg_latency_ms || 0) * r;
    });
    var maxRate = 0, maxLat = 0, total = 0;
    for (var i = 0; i < n; i++) {
      total += req[i];
      if (req[i] > 0) {
        lat[i] = lat[i] / req[i];
        maxRate = Math.max(maxRate, req[i] / B);
        maxLat = Math.max(maxLat, lat[i]);
      }
    }
    chart.buckets = { B: B, n: n, start: start, req: req, fail: fail, lat: lat };

    var fs = W < 560 ? 10 : 11;
    ctx.font = fs + 'px ' + chart.font;
    var L = 38, R = 46, T = 10, Bm = 22;
    var pw = W - L - R, ph = H - T - Bm;
    // Four grid steps of a "nice" size (1, 2, 2.5 or 5 × 10^n).
    var yMax = 4 * niceCeil(Math.max(maxRate * 1.05, 1) / 4);
    var lMax = 4 * niceCeil(Math.max(maxLat * 1.05, 100) / 4);

    // grid and axis labels
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    for (var g = 0; g <= 4; g++) {
      var gy = Math.round(T + ph - (ph * g) / 4) + 0.5;
      ctx.strokeStyle = C.grid;
      ctx.beginPath(); ctx.moveTo(L, gy); ctx.lineTo(L + pw, gy); ctx.stroke();
      ctx.fillStyle = C.faint;
      ctx.textAlign = 'right';
      ctx.fillText(fmtRate((yMax * g) / 4), L - 8, gy);
      ctx.textAlign = 'left';
      ctx.fillStyle = C.lat;
      ctx.globalAlpha = 0.8;
      ctx.fillText(fmtMsAxis((lMax * g) / 4), L + pw + 8, gy);
      ctx.globalAlpha = 1;
    }
    // time labels every two minutes (every four on narrow screens)
    ctx.fillStyle = C.faint;
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    var every = W < 560 ? 240 : 120;
    for (var m = Math.ceil(start / every) * every; m <= end; m += every) {
      var mx = L + ((m - start) / WINDOW_S) * pw;
      if (mx < L + 14 || mx > L + pw - 14) continue;
      var d = new Date(m * 1000 - state.skew);
      ctx.fillText(pad2(d.getHours()) + ':' + pad2(d.getMinutes()), mx, T + ph + 7);
      ctx.strokeStyle = C.grid;
      ctx.beginPath(); ctx.moveTo(Math.round(mx) + 0.5, T + ph); ctx.lineTo(Math.round(mx) + 0.5, T + ph + 4); ctx.stroke();
    }

    var bw = pw / n;
    var gap = bw > 5 ? Math.min(2, bw * 0.25) : 0.5;

    // hover column
    var hi = -1;
    if (chart.hoverX >= L && chart.hoverX <= L + pw) {
      hi = Math.min(n - 1, Math.floor((chart.hoverX - L) / bw));
      ctx.fillStyle = C.grid;
      ctx.fillRect(L + hi * bw, T, bw, ph);
    }

    // bars: successes in the accent colour, failures stacked on top in red
    var grad = ctx.createLinearGradient(0, T, 0, T + ph);
    grad.addColorStop(0, C.accent);
    grad.addColorStop(1, withAlpha(C.accent, 0.55));
    for (var b = 0; b < n; b++) {
      if (!req[b]) continue;
      var x = L + b * bw + gap / 2, w = Math.max(0.8, bw - gap);
      var hAll = (req[b] / B / yMax) * ph;
      var hFail = (fail[b] / B / yMax) * ph;
      var hOk = hAll - hFail;
      if (hOk > 0) {
        ctx.fillStyle = grad;
        roundRectTop(ctx, x, T + ph - hOk, w, hOk, hFail > 0 ? 0 : 2);
      }
      if (hFail > 0) {
        ctx.fillStyle = C.fail;
        roundRectTop(ctx, x, T + ph - hAll, w, Math.max(1, hFail), 2);
      }
    }

    // latency line over the bars
    ctx.strokeStyle = C.lat;
    ctx.lineWidth = 2;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    var open = false, last = -10, lone = [];
    ctx.beginPath();
    for (var q = 0; q < n; q++) {
      if (!req[q]) continue;
      var lx = L + q * bw + bw / 2;
      var ly = T + ph - (lat[q] / lMax) * ph;
      if (open && q - last <= 3) {
        ctx.lineTo(lx, ly);
      } else {
        ctx.moveTo(lx, ly);
        lone.push([lx, ly]);
      }
      open = true;
      last = q;
    }
    ctx.stroke();
    ctx.fillStyle = C.lat;
    for (var z = 0; z < lone.length; z++) {
      ctx.beginPath(); ctx.arc(lone[z][0], lone[z][1], 2.2, 0, Math.PI * 2); ctx.fill();
    }

    if (total === 0) {
      ctx.fillStyle = C.muted;
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.font = '13px ' + chart.font;
      ctx.fillText(t('waiting'), L + pw / 2, T + ph / 2);
    }

    if (hi >= 0) drawTip(ctx, hi, L, T, pw, ph, bw);
    renderChartFoot();
  }

  function withAlpha(color, a) {
    var m = /^#([0-9a-f]{6})$/i.exec(color);
    if (!m) return color;
    var v = parseInt(m[1], 16);
    return 'rgba(' + (v >> 16) + ',' + ((v >> 8) & 255) + ',' + (v & 255) + ',' + a + ')';
  }

  function drawTip(ctx, i, L, T, pw, ph, bw) {
    var k = chart.buckets, C = chart.colors;
    var from = new Date((k.start + i * k.B) * 1000 - state.skew);
    var lines = [
      fmtClock(from),
      t('tip_req') + ': ' + fmtRate(k.req[i] / k.B),
      t('tip_fail') + ': ' + k.fail[i],
      t('tip_lat') + ': ' + (k.req[i] ? fmtMs(k.lat[i]) : '—')
    ];
    ctx.font = '12px ' + chart.font;
    var w = 0;
    for (var j = 0; j < lines.length; j++) w = Math.max(w, ctx.measureText(lines[j]).width);
    w += 20;
    var h = lines.length * 17 + 12;
    var x = L + i * bw + bw + 8;
    if (x + w > L + pw) x = L + i * bw - w - 8;
    if (x < 2) x = 2;
    var y = T + 6;
    ctx.fillStyle = C.surface;
    ctx.strokeStyle = C.border;
    ctx.lineWidth = 1;
    ctx.beginPath();
    if (ctx.roundRect) ctx.roundRect(x, y, w, h, 8); else ctx.rect(x, y, w, h);
    ctx.fill();
    ctx.stroke();
    ctx.textAlign = 'left';
    ctx.textBaseline = 'top';
    for (var q = 0; q < lines.length; q++) {
      ctx.fillStyle = q === 0 ? C.text : C.muted;
      ctx.fillText(lines[q], x + 10, y + 8 + q * 17);
    }
  }

  function renderChartFoot() {
    var nowS = Math.floor(serverNow() / 1000);
    var req = 0, fail = 0, latSum = 0;
    state.series.forEach(function (p, ts) {
      if (ts > nowS - 60 && ts <= nowS) {
        req += p.requests || 0;
        fail += p.failures || 0;
        latSum += (p.avg_latency_ms || 0) * (p.requests || 0);
      }
    });
    setText($('chart-foot'), req > 0
      ? t('chart_foot', fmtRate(req / 60), fmtMs(latSum / req), fmtInt(fail))
      : t('chart_foot_idle'));
  }

  function initChart() {
    chart.canvas = $('chart');
    chart.box = $('chart-box');
    if (!chart.canvas || !chart.box) return;
    readColors();
    if (window.ResizeObserver) new ResizeObserver(sizeChart).observe(chart.box);
    else window.addEventListener('resize', sizeChart);
    var mq = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;
    if (mq && mq.addEventListener) mq.addEventListener('change', function () { readColors(); drawChart(); });
    function hover(ev) {
      var r = chart.canvas.getBoundingClientRect();
      chart.hoverX = ev.clientX - r.left;
      requestChart();
    }
    chart.canvas.addEventListener('pointermove', hover);
    chart.canvas.addEventListener('pointerdown', hover);
    chart.canvas.addEventListener('pointerleave', function () { chart.hoverX = -1; requestChart(); });
    sizeChart();
  }

  // ----- everything

  function renderAll() {
    renderTotals();
    renderClock();
    renderTargets();
    renderRecent();
    requestChart();
  }

  function tick() {
    renderClock();
    if (state.replicas.length) renderStatus();
    if (state.targets.length) renderTargets();
    updateBanner();
    requestChart(); // the time axis slides even without traffic
  }

  function initDashboard() {
    initLangToggle();
    onLangChange.push(function () {
      rowCache.clear();
      trailCache.clear();
      var body = $('recent-body');
      if (body) body.replaceChildren();
      setConn(state.conn);
      if (state.haveSnapshot) renderAll();
      else requestChart();
    });
    initChart();
    applyLang();
    setInterval(tick, 1000);
    window.addEventListener('online', function () {
      if (!ws && retryTimer) connect();
    });
    connect();
  }

  if (document.body.classList.contains('login')) initLogin();
  else initDashboard();
})();
