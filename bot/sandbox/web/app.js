// The sandbox chat page: a desktop-messenger view of the bot's conversations.
//
// It talks to two JSON APIs served by the same origin:
//   /_sandbox/*  the sandbox server: personas, invites, the clock, the bot's commands;
//   /_emu/*      the Bot API emulator's control API: the "phone" of each persona.
// Plain ES2020, no framework, no build step, nothing loaded from the network.
"use strict";

(() => {
  const DEFAULT_TZ = "Asia/Shanghai";
  const STATE_REFRESH_MS = 3000;
  const WAIT_TIMEOUT_S = 25;
  const TOAST_MS = 5000;
  // Every chat event the page shows. direction=any: the user's own messages come through
  // the same long poll, with the sandbox date the emulator gave them.
  const WAIT_KINDS = "message,edit,delete,callback_answer";
  const SEEN_STORAGE_KEY = "xueyong-sandbox-seen";
  const SAFE_HREF = /^(https?:|tg:|mailto:)/i;
  const ROLE_AVATAR_CLASS = new Set(["organiser", "mentor", "trainee", "visitor"]);
  const MEDIA_LABELS = {
    voice: "🎤 语音消息",
    audio: "🎵 音频",
    video: "🎬 视频",
    video_note: "🎬 视频消息",
    animation: "🎞 动图",
    sticker: "🙂 贴纸",
    location: "📍 位置",
    contact: "👤 联系人",
  };

  const $ = (selector) => document.querySelector(selector);

  const app = {
    state: null, // the last answer of /_sandbox/state
    tz: DEFAULT_TZ,
    selectedId: null, // the persona whose chat is shown
    afterSeq: 0, // the chat's events up to this seq are on screen
    chatGen: 0, // bumped on every chat switch: stale requests drop their results
    pollAbort: null,
    // persona id -> seq of the last event viewed in their chat. Only seqs of that chat's
    // own events go here, so a seen seq above the chat's last_seq means a new sandbox run.
    seen: loadSeen(),
    unread: new Map(), // persona id -> number of bot messages not viewed yet
    counted: new Map(), // persona id -> the last_seq its unread count was computed at
    commands: null, // the selected persona's menu while it is open
    clockBusy: false,
    stateBusy: false,
  };

  // -- HTTP ---------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function request(method, path, body, signal) {
    const init = { method, headers: { Accept: "application/json" }, signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    const text = await response.text();
    let data = null;
    try {
      data = JSON.parse(text);
    } catch (_) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data, text };
  }

  async function call(method, path, body) {
    const result = await request(method, path, body);
    if (!result.ok) {
      const data = result.data || {};
      const detail = data.error || data.description || result.text.trim().slice(0, 200);
      throw new ApiError(result.status, detail || `HTTP ${result.status}`);
    }
    return result.data;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // -- dates in the sandbox's time zone -----------------------------------------------------

  const formatters = new Map();

  function zonedParts(date) {
    let formatter = formatters.get(app.tz);
    if (!formatter) {
      formatter = new Intl.DateTimeFormat("zh-CN", {
        timeZone: app.tz,
        year: "numeric",
        month: "numeric",
        day: "numeric",
        weekday: "short",
        hour: "2-digit",
        minute: "2-digit",
        hourCycle: "h23",
      });
      formatters.set(app.tz, formatter);
    }
    const parts = {};
    for (const part of formatter.formatToParts(date)) parts[part.type] = part.value;
    return parts;
  }

  // "2026年11月23日 周一 10:05"
  function formatClock(date) {
    const p = zonedParts(date);
    return `${p.year}年${p.month}月${p.day}日 ${p.weekday} ${p.hour}:${p.minute}`;
  }

  // "11月23日 10:05"
  function formatShort(date) {
    const p = zonedParts(date);
    return `${p.month}月${p.day}日 ${p.hour}:${p.minute}`;
  }

  // -- small DOM helpers --------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function toast(text, kind = "info") {
    const node = el("div", `toast ${kind}`, text);
    node.setAttribute("role", kind === "error" ? "alert" : "status");
    $("#toasts").appendChild(node);
    setTimeout(() => {
      node.classList.add("leaving");
      setTimeout(() => node.remove(), 400);
    }, TOAST_MS);
  }

  function showAlert(text) {
    $("#modal-text").textContent = text;
    $("#modal").hidden = false;
    $("#modal-ok").focus();
  }

  function closeAlert() {
    $("#modal").hidden = true;
    $("#composer-input").focus();
  }

  function reportError(what, error) {
    if (error && error.name === "AbortError") return;
    const detail = error instanceof ApiError ? error.message : "无法连接沙盒服务器 (server unreachable)";
    toast(`${what}：${detail}`, "error");
  }

  // -- Telegram HTML, sanitised -------------------------------------------------------------
  // The emulator renders bot messages as Telegram HTML. We never assign it to innerHTML:
  // it is parsed into an inert document and rebuilt from the tags Telegram allows; any
  // other element is replaced by its text.

  const TAG_MAP = {
    b: "b",
    strong: "b",
    i: "i",
    em: "i",
    u: "u",
    ins: "u",
    s: "s",
    strike: "s",
    del: "s",
    code: "code",
    pre: "pre",
    a: "a",
    blockquote: "blockquote",
  };
  const DROPPED_TAGS = new Set(["script", "style", "template", "iframe", "object", "embed"]);

  function appendTelegramHtml(target, html) {
    const doc = new DOMParser().parseFromString(`<!doctype html><body>${html}`, "text/html");
    copySafe(doc.body, target);
  }

  function isSpanSpoiler(node) {
    return node.tagName.toLowerCase() === "span" && node.classList.contains("tg-spoiler");
  }

  function copySafe(source, target) {
    for (const node of source.childNodes) {
      if (node.nodeType === Node.TEXT_NODE) {
        target.appendChild(document.createTextNode(node.nodeValue));
        continue;
      }
      if (node.nodeType !== Node.ELEMENT_NODE) continue;
      const tag = node.tagName.toLowerCase();
      if (DROPPED_TAGS.has(tag)) continue;
      let copy = null;
      if (Object.prototype.hasOwnProperty.call(TAG_MAP, tag)) {
        copy = document.createElement(TAG_MAP[tag]);
        if (tag === "a") {
          const href = (node.getAttribute("href") || "").trim();
          if (SAFE_HREF.test(href)) {
            copy.href = href;
            copy.target = "_blank";
            copy.rel = "noopener noreferrer";
          }
        }
      } else if (tag === "tg-spoiler" || isSpanSpoiler(node)) {
        copy = el("span", "spoiler");
        copy.title = "点击显示 (click to reveal)";
        copy.addEventListener("click", () => copy.classList.toggle("revealed"));
      }
      if (copy) {
        copySafe(node, copy);
        target.appendChild(copy);
      } else {
        copySafe(node, target); // unknown element: keep its text only
      }
    }
  }

  // -- the persona column -------------------------------------------------------------------

  function personas() {
    return (app.state && app.state.personas) || [];
  }

  function persona(id) {
    return personas().find((p) => p.id === id) || null;
  }

  function avatarClass(role) {
    return ROLE_AVATAR_CLASS.has(role) ? `role-${role}` : "role-other";
  }

  function renderPersonas() {
    const list = $("#personas");
    const key = JSON.stringify(personas().map((p) => [p.id, p.name, p.role, p.role_label]));
    if (list.dataset.key !== key) {
      list.dataset.key = key;
      list.replaceChildren();
      for (const p of personas()) {
        const item = el("li");
        const button = el("button", "persona");
        button.type = "button";
        button.dataset.personaId = String(p.id);
        button.dataset.role = p.role || "";
        const avatar = el("span", `avatar ${avatarClass(p.role)}`, (p.name || "?").slice(0, 1));
        avatar.setAttribute("aria-hidden", "true");
        const text = el("span", "persona-text");
        text.append(
          el("span", "persona-name", p.name),
          el("span", "role-label", p.role_label || p.role),
        );
        const badge = el("span", "badge");
        badge.hidden = true;
        button.append(avatar, text, badge);
        button.addEventListener("click", () => selectPersona(p.id));
        item.appendChild(button);
        list.appendChild(item);
      }
    }
    for (const button of list.querySelectorAll(".persona")) {
      const id = Number(button.dataset.personaId);
      const selected = id === app.selectedId;
      if (selected && !button.classList.contains("active")) {
        // on a narrow window the personas are a horizontal strip: keep this one in sight
        button.scrollIntoView({ block: "nearest", inline: "nearest" });
      }
      button.classList.toggle("active", selected);
      button.setAttribute("aria-current", selected ? "true" : "false");
      const count = selected ? 0 : app.unread.get(id) || 0;
      const badge = button.querySelector(".badge");
      badge.hidden = count === 0;
      badge.textContent = count > 99 ? "99+" : String(count);
      badge.title = `${count} 条新消息 (new messages)`;
    }
  }

  function renderInvites() {
    const invites = (app.state && app.state.invites) || {};
    let any = false;
    for (const role of ["trainee", "mentor"]) {
      const invite = invites[role];
      const box = document.querySelector(`.invite[data-invite-role="${role}"]`);
      box.hidden = !invite;
      if (!invite) continue;
      any = true;
      $(`#invite-${role}-link`).textContent = invite.link || invite.code;
      $(`#invite-${role}-link`).title = `邀请码 Code: ${invite.code}`;
    }
    const section = $("#invites");
    section.hidden = !any;
    const selected = persona(app.selectedId);
    section.classList.toggle("highlight", Boolean(selected && selected.role === "visitor"));
  }

  function loadSeen() {
    try {
      const raw = JSON.parse(localStorage.getItem(SEEN_STORAGE_KEY) || "{}");
      return new Map(Object.entries(raw).map(([id, seq]) => [Number(id), Number(seq)]));
    } catch (_) {
      return new Map();
    }
  }

  function markSeen(id, seq) {
    if (id === null) return;
    if ((app.seen.get(id) || 0) >= seq) return;
    app.seen.set(id, seq);
    app.unread.set(id, 0);
    try {
      localStorage.setItem(SEEN_STORAGE_KEY, JSON.stringify(Object.fromEntries(app.seen)));
    } catch (_) {
      // storage may be unavailable (private mode): unread counts then last one page load
    }
  }

  // Count the bot messages each other persona got since they were last viewed. Only a
  // persona whose last_seq moved costs a request.
  async function updateUnread() {
    const jobs = personas().map(async (p) => {
      if (p.id === app.selectedId) return;
      const lastSeq = Number(p.last_seq || 0);
      let seen = app.seen.get(p.id) || 0;
      if (seen > lastSeq) {
        // the sandbox started afresh (seq numbers restarted): everything is new again
        app.seen.delete(p.id);
        seen = 0;
      }
      if (lastSeq <= seen) {
        app.unread.set(p.id, 0);
        app.counted.set(p.id, lastSeq);
        return;
      }
      if (app.counted.get(p.id) === lastSeq) return;
      const result = await request(
        "GET",
        `/_emu/chats/${p.id}/events?after_seq=${seen}&kinds=message,delete&direction=out`,
      ).catch(() => null);
      if (result && result.ok) {
        // new bot messages, less those the bot deleted since
        const fresh = new Set();
        for (const event of result.data.events || []) {
          if (event.kind === "message") fresh.add(event.message_id);
          else fresh.delete(event.message_id);
        }
        app.unread.set(p.id, fresh.size);
        app.counted.set(p.id, lastSeq);
      }
    });
    await Promise.all(jobs);
    renderPersonas();
  }

  // -- sandbox state and the clock ----------------------------------------------------------

  function applyState(state) {
    app.state = state;
    if (state.timezone) app.tz = state.timezone;
    const now = new Date(state.now);
    const clock = $("#clock");
    clock.textContent = formatClock(now);
    clock.dataset.now = state.now;
    clock.title = state.now;
    const next = state.next_event ? new Date(state.next_event) : null;
    $("#next-event").textContent = next ? `下一事件：${formatShort(next)}` : "暂无计划事件";
    $("#next-event").title = next ? `Next event: ${state.next_event}` : "No scheduled event";
    $("#btn-next-event").disabled = app.clockBusy || !next;
    const username = state.bot && state.bot.username;
    if (username) $("#bot-username").textContent = `@${username}`;
    if (state.sandbox_notice) $("#banner").title = state.sandbox_notice;
    renderPersonas();
    renderInvites();
    renderChatHeader();
  }

  async function refreshState() {
    if (app.stateBusy) return;
    app.stateBusy = true;
    try {
      applyState(await call("GET", "/_sandbox/state"));
      await updateUnread();
      // a counter tests can wait on ("the next refresh has happened")
      const refreshes = Number(document.body.dataset.stateRefreshes || 0) + 1;
      document.body.dataset.stateRefreshes = String(refreshes);
    } finally {
      app.stateBusy = false;
    }
  }

  async function stateLoop() {
    for (;;) {
      await sleep(STATE_REFRESH_MS);
      if (document.hidden) continue;
      await refreshState().catch(() => undefined); // shown as stale; the next round retries
    }
  }

  async function travel(body, button) {
    if (app.clockBusy) return;
    app.clockBusy = true;
    const buttons = document.querySelectorAll(".time-btn");
    for (const b of buttons) b.disabled = true;
    button.classList.add("working");
    try {
      const state = await call("POST", "/_sandbox/clock", body);
      app.clockBusy = false;
      applyState(state);
      const clock = $("#clock");
      clock.classList.remove("moved");
      void clock.offsetWidth; // restart the highlight animation
      clock.classList.add("moved");
      toast(`时间已前进到 ${formatClock(new Date(state.now))}`, "clock");
    } catch (error) {
      reportError("时间旅行失败", error);
    } finally {
      app.clockBusy = false;
      button.classList.remove("working");
      for (const b of buttons) b.disabled = false;
      $("#btn-next-event").disabled = !(app.state && app.state.next_event);
    }
  }

  // -- the chat -----------------------------------------------------------------------------

  function renderChatHeader() {
    const p = persona(app.selectedId);
    const avatar = $("#chat-avatar");
    if (!p) {
      avatar.className = "avatar";
      avatar.textContent = "";
      return;
    }
    avatar.className = `avatar ${avatarClass(p.role)}`;
    avatar.textContent = (p.name || "?").slice(0, 1);
    const title = $("#chat-title");
    title.replaceChildren(
      el("span", "chat-name", p.name),
      el("span", "role-label", p.role_label || p.role),
    );
    const username = app.state && app.state.bot && app.state.bot.username;
    $("#chat-subtitle").replaceChildren(
      `以「${p.name}」的身份与 @${username || "bot"} 对话`,
      el("span", "en", ` · Chatting as ${p.name}`),
    );
  }

  function setComposerEnabled(enabled) {
    $("#composer-input").disabled = !enabled;
    $("#composer-send").disabled = !enabled;
  }

  async function selectPersona(id) {
    if (app.selectedId === id) return;
    app.selectedId = id;
    app.unread.set(id, 0);
    history.replaceState(null, "", `#persona=${id}`);
    renderPersonas();
    renderInvites();
    renderChatHeader();
    setComposerEnabled(true);
    closeMenu();
    await loadChat();
  }

  async function loadChat() {
    const gen = ++app.chatGen;
    if (app.pollAbort) app.pollAbort.abort();
    const id = app.selectedId;
    const chat = $("#chat");
    chat.replaceChildren(el("div", "chat-loading", "加载中… Loading…"));
    for (;;) {
      let result;
      try {
        result = await request("GET", `/_emu/chats/${id}/messages`);
      } catch (_) {
        result = null;
      }
      if (gen !== app.chatGen) return;
      if (result && result.ok) {
        chat.replaceChildren();
        let chatSeq = 0; // the newest event of this chat (last_seq counts every chat)
        for (const message of result.data.messages || []) {
          chatSeq = Math.max(chatSeq, Number(message.seq || 0));
          if (!message.deleted) upsertMessage(message, { scroll: false });
        }
        app.afterSeq = Number(result.data.last_seq || 0);
        markSeen(id, chatSeq);
        updateEmptyState();
        chat.scrollTop = chat.scrollHeight;
        pollLoop(gen, id);
        return;
      }
      // 404: the emulator does not know this chat yet; anything else: the server is away.
      chat.replaceChildren();
      updateEmptyState();
      await sleep(STATE_REFRESH_MS);
      if (gen !== app.chatGen) return;
    }
  }

  // Long-poll the emulator for the selected chat's events: one request waits up to
  // WAIT_TIMEOUT_S seconds server-side, so an idle page makes about two requests a minute.
  async function pollLoop(gen, chatId) {
    let failures = 0;
    while (gen === app.chatGen) {
      const controller = new AbortController();
      app.pollAbort = controller;
      const url =
        `/_emu/chats/${chatId}/wait?after_seq=${app.afterSeq}&timeout=${WAIT_TIMEOUT_S}` +
        `&kinds=${WAIT_KINDS}&direction=any`;
      let result;
      try {
        result = await request("GET", url, undefined, controller.signal);
      } catch (_) {
        result = null;
      }
      if (gen !== app.chatGen) return;
      if (result && result.status === 408) {
        failures = 0;
        continue;
      }
      if (!result || !result.ok) {
        failures += 1;
        await sleep(Math.min(10000, 1000 * failures));
        continue;
      }
      failures = 0;
      applyEvents(result.data.events || []);
    }
  }

  function applyEvents(events) {
    const sorted = [...events].sort((a, b) => a.seq - b.seq);
    const before = app.afterSeq;
    for (const event of sorted) {
      if (event.seq <= app.afterSeq) continue;
      app.afterSeq = event.seq;
      if ((event.kind === "message" || event.kind === "edit") && event.message) {
        upsertMessage(event.message, { scroll: true });
      } else if (event.kind === "delete") {
        removeMessage(event.message_id);
      } else if (event.kind === "callback_answer" && event.answer) {
        showCallbackAnswer(event.answer);
      }
    }
    if (app.afterSeq > before) markSeen(app.selectedId, app.afterSeq);
    updateEmptyState();
  }

  function showCallbackAnswer(answer) {
    if (!answer.text) return; // an empty answer only stops the button's spinner
    if (answer.show_alert) showAlert(answer.text);
    else toast(answer.text, "bot");
  }

  function messageNode(messageId) {
    return $("#chat").querySelector(`.msg[data-message-id="${messageId}"]`);
  }

  function removeMessage(messageId) {
    const node = messageNode(messageId);
    if (node) node.remove();
  }

  function nearBottom(chat) {
    return chat.scrollHeight - chat.scrollTop - chat.clientHeight < 120;
  }

  // Show a message: a new bubble in message_id order, or the existing bubble updated in
  // place (an edit keeps the same element).
  function upsertMessage(message, { scroll }) {
    if (message.deleted) {
      removeMessage(message.message_id);
      return;
    }
    const chat = $("#chat");
    const stick = scroll && (nearBottom(chat) || message.direction === "in");
    let node = messageNode(message.message_id);
    if (node) {
      if (Number(node.dataset.seq) > Number(message.seq)) return; // an older snapshot
      fillMessage(node, message);
    } else {
      node = el("div");
      fillMessage(node, message);
      const later = [...chat.querySelectorAll(".msg")].find(
        (other) => Number(other.dataset.messageId) > message.message_id,
      );
      chat.insertBefore(node, later || null);
    }
    if (stick) chat.scrollTop = chat.scrollHeight;
  }

  function fillMessage(node, message) {
    const direction = message.direction === "in" ? "in" : "out";
    node.className = `msg ${direction}`;
    node.dataset.messageId = String(message.message_id);
    node.dataset.direction = direction;
    node.dataset.seq = String(message.seq);
    node.dataset.kind = message.kind || "text";
    node.classList.toggle("edited", Boolean(message.edited));

    const bubble = el("div", "bubble");
    const media = renderMedia(message);
    if (media) bubble.appendChild(media);
    if (message.text) {
      const text = el("div", "text");
      if (direction === "out" && message.html) appendTelegramHtml(text, message.html);
      else text.textContent = message.text;
      bubble.appendChild(text);
    }
    const meta = el("div", "meta");
    if (message.edited) {
      const mark = el("span", "edited-mark", "已编辑");
      mark.title = "edited";
      meta.appendChild(mark);
    }
    const date = new Date(Number(message.date) * 1000);
    const time = el("time", "time", formatShort(date));
    time.dateTime = date.toISOString();
    time.title = formatClock(date);
    meta.appendChild(time);
    bubble.appendChild(meta);

    const parts = [bubble];
    const keyboard = renderKeyboard(message);
    if (keyboard) parts.push(keyboard);
    node.replaceChildren(...parts);
  }

  function fileUrl(fileId) {
    return `/_emu/files/${encodeURIComponent(fileId)}`;
  }

  function humanSize(bytes) {
    if (!Number.isFinite(bytes)) return "";
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function photoPlaceholder() {
    return el("div", "photo-placeholder", "🖼 图片");
  }

  function renderMedia(message) {
    let photo = message.photo || (message.media && message.media.photo) || null;
    if (Array.isArray(photo)) photo = photo[photo.length - 1] || null;
    if (photo && photo.file_id) {
      const figure = el("div", "photo");
      const img = el("img");
      img.alt = "图片";
      img.src = fileUrl(photo.file_id);
      if (photo.width && photo.height) {
        img.width = Math.min(320, photo.width);
        img.style.aspectRatio = `${photo.width} / ${photo.height}`;
      }
      img.addEventListener("error", () => figure.replaceChildren(photoPlaceholder()));
      img.addEventListener("load", () => {
        const chat = $("#chat");
        if (nearBottom(chat)) chat.scrollTop = chat.scrollHeight;
      });
      figure.appendChild(img);
      return figure;
    }
    if (photo) return photoPlaceholder();

    const doc = message.document || (message.media && message.media.document) || null;
    if (doc) {
      const card = el("div", "document");
      card.appendChild(el("span", "doc-icon", "📄"));
      const info = el("div", "doc-info");
      info.appendChild(el("div", "doc-name", doc.file_name || "文件 (file)"));
      const size = humanSize(Number(doc.file_size));
      if (size || doc.mime_type) {
        info.appendChild(el("div", "doc-size", [size, doc.mime_type].filter(Boolean).join(" · ")));
      }
      card.appendChild(info);
      if (doc.file_id) {
        const link = el("a", "doc-download", "下载 Download");
        link.href = fileUrl(doc.file_id);
        link.download = doc.file_name || "";
        card.appendChild(link);
      }
      return card;
    }

    const kind = message.kind || "text";
    if (kind !== "text" && kind !== "other") {
      return el("div", "media-placeholder", MEDIA_LABELS[kind] || `📎 ${kind}`);
    }
    return null;
  }

  function renderKeyboard(message) {
    const rows = (message.reply_markup && message.reply_markup.inline_keyboard) || [];
    if (rows.length === 0) return null;
    const keyboard = el("div", "keyboard");
    for (const row of rows) {
      const line = el("div", "kb-row");
      for (const spec of row) {
        const button = el("button", "inline-btn", spec.text || "");
        button.type = "button";
        if (spec.callback_data !== undefined && spec.callback_data !== null) {
          const data = spec.callback_data;
          button.addEventListener("click", () => press(message.message_id, data, button));
        } else if (spec.url) {
          button.classList.add("url");
          button.title = spec.url;
          button.addEventListener("click", () => window.open(spec.url, "_blank", "noopener"));
        } else {
          button.disabled = true;
          button.title = "沙盒不支持这种按钮 (not supported in the sandbox)";
        }
        line.appendChild(button);
      }
      keyboard.appendChild(line);
    }
    return keyboard;
  }

  function updateEmptyState() {
    const chat = $("#chat");
    const hasMessages = chat.querySelector(".msg") !== null;
    const existing = chat.querySelector(".chat-empty");
    if (hasMessages) {
      if (existing) existing.remove();
      return;
    }
    if (existing) return;
    const p = persona(app.selectedId);
    const box = el("div", "chat-empty");
    box.appendChild(el("div", "empty-title", "还没有消息 · No messages yet"));
    const invite = app.state && app.state.invites && app.state.invites.trainee;
    if (p && p.role === "visitor" && invite) {
      box.appendChild(el("p", null, "这位访客还没有报名。用学员邀请链接体验学员的报名流程："));
      box.appendChild(el("p", "en", "Not enrolled yet: try the trainee invite link."));
      const start = el("button", "invite-btn", "▶ 开始报名（学员邀请链接）");
      start.type = "button";
      start.addEventListener("click", () => enrolWith("trainee"));
      box.appendChild(start);
    } else {
      box.appendChild(el("p", null, "发送 /start 开始，或点「☰ 菜单」查看机器人的命令。"));
      box.appendChild(el("p", "en", "Send /start, or open the menu for the bot's commands."));
    }
    chat.appendChild(box);
  }

  // -- actions of the selected persona ------------------------------------------------------

  async function sendText(text) {
    const id = app.selectedId;
    if (id === null) {
      toast("请先选择一个角色 (pick a persona first)", "error");
      return false;
    }
    try {
      await call("POST", `/_emu/users/${id}/messages`, { text });
      return true;
    } catch (error) {
      reportError("发送失败", error);
      return false;
    }
  }

  async function press(messageId, data, button) {
    const id = app.selectedId;
    if (id === null) return;
    button.classList.add("pressed");
    try {
      await call("POST", `/_emu/users/${id}/press`, { message_id: messageId, data });
    } catch (error) {
      reportError("按钮无效", error);
    } finally {
      setTimeout(() => button.classList.remove("pressed"), 400);
    }
  }

  async function submitComposer(event) {
    event.preventDefault();
    const input = $("#composer-input");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    if (!(await sendText(text))) input.value = text;
    input.focus();
  }

  async function enrolWith(role) {
    const invite = app.state && app.state.invites && app.state.invites[role];
    if (!invite) return;
    if (await sendText(`/start ${invite.code}`)) $("#composer-input").focus();
  }

  // -- the command menu ---------------------------------------------------------------------

  function closeMenu() {
    $("#menu-pop").hidden = true;
    $("#btn-menu").setAttribute("aria-expanded", "false");
    app.commands = null; // loaded again when it opens: each persona's roles, as they are now
  }

  async function toggleMenu() {
    const pop = $("#menu-pop");
    if (!pop.hidden) {
      closeMenu();
      return;
    }
    pop.hidden = false;
    $("#btn-menu").setAttribute("aria-expanded", "true");
    if (app.commands === null) {
      const list = $("#menu-list");
      list.replaceChildren(el("li", "menu-note", "加载中… Loading…"));
      try {
        const chat = app.selectedId === null ? "" : `&chat=${app.selectedId}`;
        const data = await call("GET", `/_sandbox/commands?lang=zh${chat}`);
        app.commands = data.commands || [];
      } catch (error) {
        list.replaceChildren(el("li", "menu-note", "无法加载命令 (could not load commands)"));
        return;
      }
      renderMenu();
    }
  }

  function renderMenu() {
    const list = $("#menu-list");
    list.replaceChildren();
    if (app.commands.length === 0) {
      list.appendChild(el("li", "menu-note", "机器人没有设置命令 (no commands)"));
      return;
    }
    for (const command of app.commands) {
      const item = el("li");
      const button = el("button", "menu-item");
      button.type = "button";
      button.dataset.command = command.command;
      button.append(
        el("span", "cmd", `/${command.command}`),
        el("span", "desc", command.description),
      );
      button.addEventListener("click", async () => {
        closeMenu();
        await sendText(`/${command.command}`);
        $("#composer-input").focus();
      });
      item.appendChild(button);
      list.appendChild(item);
    }
  }

  // -- start --------------------------------------------------------------------------------

  function wire() {
    $("#composer").addEventListener("submit", submitComposer);
    $("#btn-menu").addEventListener("click", toggleMenu);
    document.addEventListener("click", (event) => {
      if (!event.target.closest(".menu-wrap")) closeMenu();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      closeMenu();
      if (!$("#modal").hidden) closeAlert();
    });
    $("#modal-ok").addEventListener("click", closeAlert);
    $("#invite-trainee").addEventListener("click", () => enrolWith("trainee"));
    $("#invite-mentor").addEventListener("click", () => enrolWith("mentor"));
    for (const button of document.querySelectorAll(".time-btn[data-advance]")) {
      const seconds = Number(button.dataset.advance);
      button.addEventListener("click", () => travel({ advance_seconds: seconds }, button));
    }
    const next = $("#btn-next-event");
    next.addEventListener("click", () => travel({ to_next_event: true }, next));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refreshState().catch(() => undefined);
    });
  }

  function initialPersona() {
    const match = /persona=(-?\d+)/.exec(location.hash);
    const wanted = match ? Number(match[1]) : null;
    if (wanted !== null && persona(wanted)) return wanted;
    const first = personas()[0];
    return first ? first.id : null;
  }

  async function start() {
    wire();
    for (;;) {
      try {
        await refreshState();
        break;
      } catch (error) {
        $("#chat").replaceChildren(
          el("div", "chat-empty error", "无法连接沙盒服务器，正在重试… (server unreachable, retrying)"),
        );
        await sleep(STATE_REFRESH_MS);
      }
    }
    const id = initialPersona();
    if (id !== null) await selectPersona(id);
    stateLoop();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
