// Hushdesk chat widget: runs inside the iframe page served by Hushdesk (widget_frame.html),
// under the CSP "default-src 'none'; script-src 'self'; connect-src 'self'; ...".
//
// Flow: take the single-use bootstrap from location.hash (and clear the hash at once), trade
// it for a session token (POST {api}/session/exchange), or, with no hash, resume the session
// kept in this frame origin's sessionStorage (POST {api}/session/refresh). Then consent,
// then the chat: messages are sent with POST {api}/messages and {api}/attachments, and
// everything said is read from the event stream GET {api}/events?after=<seq>, which is read
// with fetch() so that the token travels in the Authorization header, never in a URL.
//
// Trust: every message text, attachment name and citation title comes from the customer, the
// model or a person, so it only ever reaches the page through textContent. Nothing is taken
// from the host page (there is no postMessage channel at all).
(function () {
  "use strict";

  const ENDED_TEXT = "This chat session has ended. Reload the page to start again.";
  const CLOSED_TEXT = "This conversation was closed.";
  const HANDOFF_TEXT = "A person from our team will reply here.";
  const DELAYED_TEXT = "Sorry, this is taking longer than usual. Please wait a moment.";
  const OFFLINE_TEXT = "Your message could not be sent. Check your connection and try again.";
  const ALLOWED_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"];
  const SEND_RETRIES = 3; // after the first attempt, with the same client_id (the server dedupes)
  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 15000;
  const REFRESH_MARGIN_S = 60;
  const STREAM_SILENCE_MS = 45000; // three missed keep-alives (sent every 15 s)
  const MAX_SSE_LINE = 1048576;

  // ---- Server-sent events: a pure parser --------------------------------------------------
  // parseSseChunk(state, chunk) -> {state, events: [{event, data}], comments: int}.
  // It follows the SSE rules: lines end with CRLF, LF or CR; a blank line dispatches the event
  // being built (only when it has data lines); "event:" names it (default "message"); "data:"
  // lines are joined with "\n"; one space after the colon is dropped; lines starting with ":"
  // are comments; other fields (id, retry) are ignored because the widget resumes by seq.
  // The state is never mutated: a new one is returned.

  function newSseState() {
    return { rest: "", skipLF: false, type: "", data: [] };
  }

  function parseSseChunk(state, chunk) {
    if (chunk === "") {
      return { state: state, events: [], comments: 0 };
    }
    let text = chunk;
    if (state.skipLF && text.charAt(0) === "\n") {
      text = text.slice(1); // second half of a CRLF split across two chunks
    }
    const buffer = state.rest + text;
    const lineEnd = /\r\n|\r|\n/g;
    const events = [];
    let comments = 0;
    let type = state.type;
    let data = state.data.slice();
    let start = 0;
    let skipLF = false;
    let match;
    while ((match = lineEnd.exec(buffer)) !== null) {
      const line = buffer.slice(start, match.index);
      start = lineEnd.lastIndex;
      skipLF = match[0] === "\r" && start === buffer.length;
      if (line === "") {
        if (data.length > 0) {
          events.push({ event: type === "" ? "message" : type, data: data.join("\n") });
        }
        type = "";
        data = [];
      } else if (line.charAt(0) === ":") {
        comments += 1;
      } else {
        const colon = line.indexOf(":");
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? "" : line.slice(colon + 1);
        if (value.charAt(0) === " ") {
          value = value.slice(1);
        }
        if (field === "event") {
          type = value;
        } else if (field === "data") {
          data.push(value);
        }
      }
    }
    return {
      state: { rest: buffer.slice(start), skipLF: skipLF, type: type, data: data },
      events: events,
      comments: comments,
    };
  }
  // ---- end of the SSE parser ----------------------------------------------------------------

  const body = document.body;
  const els = {
    scroll: document.getElementById("hd-scroll"),
    consent: document.getElementById("hd-consent"),
    consentAccept: document.getElementById("hd-consent-accept"),
    log: document.getElementById("hd-log"),
    form: document.getElementById("hd-form"),
    text: document.getElementById("hd-text"),
    file: document.getElementById("hd-file"),
    send: document.getElementById("hd-send"),
    notice: document.getElementById("hd-notice"),
    handoff: document.getElementById("hd-handoff"),
  };

  function positiveInt(raw, fallback) {
    const value = Number.parseInt(raw, 10);
    return Number.isInteger(value) && value > 0 ? value : fallback;
  }

  const config = {
    // Only a same-origin path: the API base must never point requests at another site.
    api: /^\/[A-Za-z0-9._~\/-]*$/.test(body.dataset.api || "") && !/^\/\//.test(body.dataset.api)
      ? body.dataset.api.replace(/\/+$/, "")
      : "",
    widgetKey: body.dataset.widgetKey || "",
    agentName: body.dataset.agentName || "Assistant",
    consentMode: body.dataset.consentMode === "shown" ? "shown" : "accept",
    consentVersion: positiveInt(body.dataset.consentVersion, 1),
  };

  const limits = {
    maxChars: positiveInt(body.dataset.maxChars, 2000),
    maxBytes: 5242880,
  };

  const session = {
    token: null,
    expiresAt: 0,
    refreshTimer: 0,
    refreshing: null,
    ended: false,
    consented: false,
    recording: null,
    consentMode: config.consentMode,
    consentVersion: config.consentVersion,
  };

  const stream = {
    started: false,
    lastSeq: 0,
    controller: null,
    delay: RECONNECT_FIRST_MS,
    timer: 0,
    waiting: false,
    watchdog: 0,
  };

  const bubbles = new Map(); // message id -> bubble element (final, or a sent optimistic one)
  const provisional = new Map(); // message id -> assistant bubble being streamed by "delta"
  let noticeKind = ""; // "", "info", "error", "typing", "delayed", "closed"
  let sendQueue = Promise.resolve();

  // ---- Small DOM pieces ---------------------------------------------------------------------

  function make(tag, className, text) {
    const element = document.createElement(tag);
    if (className) {
      element.className = className;
    }
    if (typeof text === "string") {
      element.textContent = text;
    }
    return element;
  }

  function setNotice(text, kind) {
    els.notice.classList.toggle("hd-notice-error", kind === "error");
    els.notice.textContent = text;
    noticeKind = text === "" ? "" : kind;
  }

  function clearNotice(kinds) {
    if (kinds.indexOf(noticeKind) !== -1) {
      setNotice("", "");
    }
  }

  function showTyping() {
    if (noticeKind === "error" || noticeKind === "closed") {
      return;
    }
    els.notice.classList.remove("hd-notice-error");
    els.notice.replaceChildren(
      make("span", "hd-typing", "…"),
      make("span", "hd-visually-hidden", config.agentName + " is typing"),
    );
    els.notice.firstChild.setAttribute("aria-hidden", "true");
    noticeKind = "typing";
  }

  function clearTyping() {
    clearNotice(["typing", "delayed"]);
  }

  function showHandoff(visible) {
    if (visible && els.handoff.hidden) {
      els.handoff.hidden = false;
      // Set the text after the region is shown so that screen readers announce it.
      els.handoff.textContent = "";
      window.setTimeout(function () {
        els.handoff.textContent = HANDOFF_TEXT;
      }, 50);
    } else if (!visible) {
      els.handoff.hidden = true;
    }
  }

  function nearBottom() {
    const box = els.scroll;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollToEnd(force) {
    if (force || nearBottom()) {
      els.scroll.scrollTop = els.scroll.scrollHeight;
    }
  }

  function focusFirst() {
    if (!els.consent.hidden && !els.consentAccept.hidden && !els.consentAccept.disabled) {
      els.consentAccept.focus();
    } else if (!els.form.hidden) {
      els.text.focus();
    }
  }

  // ---- Messages -----------------------------------------------------------------------------

  const AUTHOR_LABELS = { customer: "You", assistant: null, person: "Team", notice: "Notice" };

  function authorOf(author) {
    return Object.prototype.hasOwnProperty.call(AUTHOR_LABELS, author) ? author : "notice";
  }

  function isMessage(value) {
    return Boolean(value) && typeof value === "object" && typeof value.id === "string" && value.id !== "";
  }

  // Rebuilds a bubble's content from a message-like object: {author, text, attachment, citations}.
  function fillBubble(element, message, keepText) {
    const author = authorOf(message.author);
    element.className = "hd-msg hd-msg-" + author;
    element.removeAttribute("aria-busy");
    const label = author === "assistant" ? config.agentName : AUTHOR_LABELS[author];
    const parts = [];
    // Customers see their own bubbles on the right and notices centred: for those two the
    // author label is only for screen readers.
    if (author === "customer" || author === "notice") {
      parts.push(make("span", "hd-visually-hidden", label + ": "));
    } else {
      parts.push(make("span", "hd-msg-author", label));
    }
    const attachment = message.attachment;
    if (attachment && typeof attachment === "object" && typeof attachment.name === "string") {
      parts.push(make("p", "hd-msg-attachment", "📎 " + attachment.name));
    }
    const text = typeof message.text === "string" ? message.text : "";
    if (text !== "" || keepText) {
      const paragraph = make("p", "hd-msg-text");
      paragraph.appendChild(document.createTextNode(text));
      parts.push(paragraph);
    }
    const citations = Array.isArray(message.citations)
      ? message.citations.filter(function (item) {
        return item && typeof item.title === "string" && item.title !== "";
      })
      : [];
    if (citations.length > 0) {
      const box = make("div", "hd-citations");
      box.appendChild(make("p", "hd-citations-title", "Sources"));
      const list = make("ul", "hd-citations-list");
      citations.forEach(function (item) {
        list.appendChild(make("li", null, item.title)); // text only, never a link
      });
      box.appendChild(list);
      parts.push(box);
    }
    element.replaceChildren.apply(element, parts);
  }

  function insertBySeq(element, seq) {
    if (typeof seq === "number") {
      const children = els.log.children;
      for (let i = 0; i < children.length; i += 1) {
        const other = Number.parseInt(children[i].dataset.seq || "", 10);
        if (Number.isInteger(other) && other > seq) {
          els.log.insertBefore(element, children[i]);
          return;
        }
      }
    }
    els.log.appendChild(element);
  }

  function renderMessage(message) {
    if (!isMessage(message)) {
      return;
    }
    const seq = Number.isInteger(message.seq) ? message.seq : null;
    if (seq !== null && seq > stream.lastSeq) {
      stream.lastSeq = seq;
    }
    const follow = nearBottom();
    let element = bubbles.get(message.id) || provisional.get(message.id);
    const isNew = !element;
    provisional.delete(message.id);
    if (isNew) {
      element = make("div");
    }
    fillBubble(element, message, false);
    element.dataset.id = message.id;
    if (seq !== null) {
      element.dataset.seq = String(seq);
    }
    bubbles.set(message.id, element);
    if (isNew) {
      insertBySeq(element, seq);
    }
    if (message.author === "assistant" || message.author === "person") {
      clearTyping();
    }
    scrollToEnd(follow);
  }

  function applyDelta(delta) {
    if (!delta || typeof delta.message_id !== "string" || typeof delta.text !== "string") {
      return;
    }
    if (bubbles.has(delta.message_id)) {
      return; // the final message is already shown
    }
    const follow = nearBottom();
    let element = provisional.get(delta.message_id);
    if (!element) {
      element = make("div");
      fillBubble(element, { author: "assistant", text: "" }, true);
      element.classList.add("hd-msg-provisional");
      // Screen readers wait for the finished reply instead of reading every piece.
      element.setAttribute("aria-busy", "true");
      provisional.set(delta.message_id, element);
      els.log.appendChild(element);
    }
    element.querySelector(".hd-msg-text").firstChild.appendData(delta.text);
    clearTyping();
    scrollToEnd(follow);
  }

  function applyStatus(status) {
    if (!status || typeof status.state !== "string") {
      return;
    }
    switch (status.state) {
      case "typing":
        showTyping();
        break;
      case "delayed":
        if (noticeKind !== "error") {
          setNotice(typeof status.text === "string" && status.text !== "" ? status.text : DELAYED_TEXT, "delayed");
        }
        break;
      case "handed_off":
        clearNotice(["typing", "delayed", "closed"]);
        showHandoff(true);
        break;
      case "bot":
        clearNotice(["typing", "delayed", "closed"]);
        showHandoff(false);
        break;
      case "resolved":
        showHandoff(false);
        setNotice(CLOSED_TEXT, "closed");
        break;
      default:
        break;
    }
  }

  // ---- Session storage (this frame's origin only) ---------------------------------------------
  // Storage can be unavailable (blocked third-party storage, private modes): the chat then
  // works for this page view only, so failures here are deliberately ignored.

  function storageKey() {
    return "hushdesk.session." + config.widgetKey;
  }

  function saveSession() {
    try {
      window.sessionStorage.setItem(storageKey(), JSON.stringify({
        token: session.token,
        consented: session.consented,
      }));
    } catch (error) {
      // See above: resuming after a navigation is a convenience.
    }
  }

  function loadSession() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem(storageKey()) || "null");
      return stored && typeof stored.token === "string" && stored.token !== "" ? stored : null;
    } catch (error) {
      return null;
    }
  }

  function forgetSession() {
    try {
      window.sessionStorage.removeItem(storageKey());
    } catch (error) {
      // Nothing stored, nothing to remove.
    }
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  function sleep(ms) {
    return new Promise(function (resolve) {
      window.setTimeout(resolve, ms);
    });
  }

  function readJson(response) {
    return response.json().catch(function () {
      return null;
    });
  }

  function readError(response) {
    // Hushdesk's errors are {"error": {"code": ..., "message": ...}}.
    return readJson(response).then(function (data) {
      var error = data && typeof data.error === "object" && data.error ? data.error : {};
      return {
        code: typeof error.code === "string" ? error.code : "",
        message: typeof error.message === "string" ? error.message : "",
      };
    });
  }

  function jsonInit(method, payload) {
    return {
      method: method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    };
  }

  function rawFetch(path, init, token) {
    const headers = Object.assign({}, init.headers || {});
    if (token) {
      headers.Authorization = "Bearer " + token;
    }
    // Cookies are never needed: the token is the only credential of a widget session.
    return window.fetch(config.api + path, Object.assign({}, init, {
      headers: headers,
      credentials: "omit",
      cache: "no-store",
    }));
  }

  // Sends with the current token; on 401 renews the token once (unless another request has
  // already rotated it) and retries once. Network errors reject, as fetch does.
  async function apiFetch(path, init) {
    const used = session.token;
    const response = await rawFetch(path, init, used);
    if (response.status !== 401 || !used || session.ended) {
      return response;
    }
    const renewed = session.token !== used && session.token !== null ? true : await refreshToken();
    return renewed ? rawFetch(path, init, session.token) : response;
  }

  function scheduleRefresh(seconds) {
    window.clearTimeout(session.refreshTimer);
    session.refreshTimer = window.setTimeout(refreshToken, Math.max(5, seconds) * 1000);
  }

  function setToken(token, expiresIn) {
    const lifetime = positiveInt(expiresIn, 900);
    session.token = token;
    session.expiresAt = Date.now() + lifetime * 1000;
    saveSession();
    scheduleRefresh(lifetime - REFRESH_MARGIN_S);
  }

  // One refresh at a time: the old token stops working once rotated, so parallel refreshes
  // would race each other. Resolves true when a new token is in place.
  function refreshToken() {
    if (!session.refreshing) {
      session.refreshing = doRefresh().finally(function () {
        session.refreshing = null;
      });
    }
    return session.refreshing;
  }

  async function doRefresh() {
    if (session.ended || !session.token) {
      return false;
    }
    let response;
    try {
      response = await rawFetch("/session/refresh", { method: "POST" }, session.token);
    } catch (error) {
      scheduleRefresh(10); // offline for now; the token may still be valid for a while
      return false;
    }
    if (response.ok) {
      const data = await readJson(response);
      if (data && typeof data.token === "string" && data.token !== "") {
        setToken(data.token, data.expires_in);
        return true;
      }
      endSession(ENDED_TEXT);
      return false;
    }
    if (response.status === 401 || response.status === 403 || response.status === 404) {
      endSession(ENDED_TEXT);
      return false;
    }
    scheduleRefresh(15); // a server error or rate limit: try again shortly
    return false;
  }

  function endSession(text) {
    session.ended = true;
    session.token = null;
    window.clearTimeout(session.refreshTimer);
    window.clearTimeout(stream.timer);
    window.clearTimeout(stream.watchdog);
    if (stream.controller) {
      stream.controller.abort();
    }
    forgetSession();
    els.form.hidden = true;
    els.consentAccept.hidden = true;
    showHandoff(false);
    setNotice(text, "error");
  }

  // ---- Consent --------------------------------------------------------------------------------
  // "accept": the notice and its button are shown, the form only after the click is recorded.
  // "shown": the form is shown at once and the consent is recorded as soon as the notice is
  // really on screen. The frame loads hidden (the launcher shows it later), so "on screen" is
  // detected with an IntersectionObserver; sending also waits for the record, so no message
  // can precede it even if the observer never fires.

  function startConsent(consent) {
    if (consent && (consent.mode === "accept" || consent.mode === "shown")) {
      session.consentMode = consent.mode;
    }
    if (consent && Number.isInteger(consent.version)) {
      session.consentVersion = consent.version;
    }
    if (consent && consent.required === false) {
      consentDone();
      return;
    }
    session.consented = false;
    els.consent.hidden = false;
    if (session.consentMode === "accept") {
      els.form.hidden = true;
      els.consentAccept.hidden = false;
      els.consentAccept.disabled = false;
      if (document.hasFocus()) {
        els.consentAccept.focus();
      }
      return;
    }
    els.consentAccept.hidden = true;
    els.form.hidden = false;
    whenOnScreen(els.consent, function () {
      if (!session.consented) {
        recordConsent();
      }
    });
  }

  function whenOnScreen(element, callback) {
    if (typeof window.IntersectionObserver !== "function") {
      callback();
      return;
    }
    const observer = new window.IntersectionObserver(function (entries) {
      if (entries.some(function (entry) { return entry.isIntersecting; })) {
        observer.disconnect();
        callback();
      }
    });
    observer.observe(element);
  }

  // Records the consent once at a time; resolves true when it is recorded.
  function recordConsent() {
    if (!session.recording) {
      session.recording = postConsent().finally(function () {
        session.recording = null;
      });
    }
    return session.recording;
  }

  async function postConsent() {
    els.consentAccept.disabled = true;
    let response;
    try {
      response = await apiFetch("/consent", jsonInit("POST", { version: session.consentVersion }));
    } catch (error) {
      setNotice("We couldn't reach the chat. Check your connection and try again.", "error");
      offerAccept();
      return false;
    }
    if (session.ended) {
      return false;
    }
    if (response.ok) {
      consentDone();
      return true;
    }
    const problem = await readError(response);
    setNotice(problem.message || "We couldn't start the chat. Please try again.", "error");
    offerAccept();
    return false;
  }

  // Before a message is sent: true when consent is recorded (recording it now in "shown" mode).
  function ensureConsent() {
    if (session.consented) {
      return Promise.resolve(true);
    }
    return session.consentMode === "shown" ? recordConsent() : Promise.resolve(false);
  }

  function offerAccept() {
    if (session.ended) {
      return;
    }
    // Also the way to try again in "shown" mode after a failure.
    els.consentAccept.hidden = false;
    els.consentAccept.disabled = false;
  }

  function consentDone() {
    const hadFocus = document.activeElement === els.consentAccept;
    session.consented = true;
    saveSession();
    els.consentAccept.hidden = true;
    els.form.hidden = false;
    clearNotice(["error", "info"]);
    startStream();
    if (hadFocus) {
      els.text.focus();
    }
  }

  // ---- Sending --------------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // Outside a secure context randomUUID is missing: build a version 4 UUID by hand.
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, function (byte) {
      return byte.toString(16).padStart(2, "0");
    }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-"
      + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function retryAfterText(response) {
    const raw = (response.headers.get("Retry-After") || "").trim();
    let seconds = null;
    if (/^\d+$/.test(raw)) {
      seconds = Number.parseInt(raw, 10);
    } else if (raw !== "" && !Number.isNaN(Date.parse(raw))) {
      seconds = Math.ceil((Date.parse(raw) - Date.now()) / 1000);
    }
    if (seconds === null) {
      return "You're sending messages too quickly. Try again in a moment.";
    }
    seconds = Math.max(1, seconds);
    return "You're sending messages too quickly. Try again in " + seconds
      + (seconds === 1 ? " second." : " seconds.");
  }

  function setBubbleState(element, state) {
    element.classList.toggle("hd-msg-pending", state === "pending");
    element.classList.toggle("hd-msg-failed", state === "failed");
    const old = element.querySelector(".hd-msg-state");
    if (old) {
      old.remove();
    }
    const retry = element.querySelector(".hd-retry");
    if (retry) {
      retry.remove();
    }
    if (state === "pending") {
      element.appendChild(make("span", "hd-msg-state", "Sending…"));
    } else if (state === "failed") {
      element.appendChild(make("span", "hd-msg-state", "Not sent."));
    }
  }

  // A job: {element, clientId, init() -> fetch init, path, text (for a text message)}.
  function queueJob(job) {
    sendQueue = sendQueue.then(function () {
      return deliver(job);
    });
  }

  function adoptSent(job, message) {
    const shown = bubbles.get(message.id);
    if (shown && shown !== job.element) {
      job.element.remove(); // the stream delivered it first
      return;
    }
    bubbles.set(message.id, job.element);
    renderMessage(message);
  }

  async function deliver(job) {
    setBubbleState(job.element, "pending");
    if (!(await ensureConsent())) {
      job.element.remove();
      restoreText(job);
      if (!session.ended && session.consentMode === "accept") {
        startConsent(null);
      }
      return;
    }
    for (let attempt = 0; ; attempt += 1) {
      if (session.ended) {
        job.element.remove();
        return;
      }
      let response = null;
      try {
        response = await apiFetch(job.path, job.init());
      } catch (error) {
        response = null; // network failure: retried below with the same client_id
      }
      const retriable = response === null || response.status >= 500;
      if (retriable && attempt < SEND_RETRIES) {
        await sleep(RECONNECT_FIRST_MS * Math.pow(2, attempt));
        continue;
      }
      if (retriable) {
        failJob(job);
        return;
      }
      if (response.ok) {
        const data = await readJson(response);
        // Accepted: old errors are stale, and a closed conversation is evidently open again.
        clearNotice(["error", "closed"]);
        if (data && isMessage(data.message)) {
          adoptSent(job, data.message);
        } else {
          setBubbleState(job.element, "sent");
        }
        return;
      }
      await rejectJob(job, response);
      return;
    }
  }

  function failJob(job) {
    setBubbleState(job.element, "failed");
    const retry = make("button", "hd-button hd-retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", function () {
      queueJob(job); // same client_id: the server keeps one message however often it arrives
    });
    job.element.appendChild(retry);
    setNotice(OFFLINE_TEXT, "error");
  }

  function restoreText(job) {
    if (typeof job.text === "string" && els.text.value === "") {
      els.text.value = job.text;
    }
  }

  async function rejectJob(job, response) {
    // The server refused this message for good: take the bubble away and give the text back.
    job.element.remove();
    restoreText(job);
    if (session.ended) {
      return; // the notice already says the session is over
    }
    if (response.status === 429) {
      setNotice(retryAfterText(response), "error");
      return;
    }
    const problem = await readError(response);
    if (problem.code === "consent_required") {
      startConsent(null);
    }
    setNotice(problem.message || "Your message could not be sent.", "error");
  }

  function addPending(message) {
    const element = make("div");
    fillBubble(element, message, false);
    setBubbleState(element, "pending");
    els.log.appendChild(element);
    scrollToEnd(true);
    return element;
  }

  function onSubmit(event) {
    event.preventDefault();
    if (session.ended || !session.token || els.form.hidden) {
      return;
    }
    const text = els.text.value;
    if (text.trim() === "") {
      setNotice("Type a message first.", "error");
      els.text.focus();
      return;
    }
    if (text.length > limits.maxChars) {
      setNotice("Your message is too long: at most " + limits.maxChars + " characters.", "error");
      return;
    }
    els.text.value = "";
    const clientId = newClientId();
    queueJob({
      element: addPending({ author: "customer", text: text }),
      path: "/messages",
      text: text,
      init: function () {
        return jsonInit("POST", { client_id: clientId, text: text });
      },
    });
  }

  function formatBytes(bytes) {
    return String(Math.round((bytes / 1048576) * 10) / 10) + " MB";
  }

  function onFileChosen() {
    const file = els.file.files && els.file.files[0];
    els.file.value = "";
    if (!file || session.ended || !session.token || els.form.hidden) {
      return;
    }
    // An empty type means the browser could not tell: the server sniffs the bytes anyway.
    if (file.type !== "" && ALLOWED_TYPES.indexOf(file.type) === -1) {
      setNotice("Only images (PNG, JPEG, GIF, WebP) and PDF files can be sent.", "error");
      return;
    }
    if (file.size > limits.maxBytes) {
      setNotice("This file is too large: at most " + formatBytes(limits.maxBytes) + ".", "error");
      return;
    }
    const clientId = newClientId();
    queueJob({
      element: addPending({ author: "customer", text: "", attachment: { name: file.name } }),
      path: "/attachments",
      text: null,
      init: function () {
        const form = new FormData();
        form.append("file", file, file.name);
        form.append("client_id", clientId);
        return { method: "POST", body: form };
      },
    });
  }

  function onKeyDown(event) {
    // Enter sends, Shift+Enter makes a new line; never interrupt an IME composition.
    if (event.key !== "Enter" || event.shiftKey || event.isComposing
      || event.altKey || event.ctrlKey || event.metaKey) {
      return;
    }
    event.preventDefault();
    if (typeof els.form.requestSubmit === "function") {
      els.form.requestSubmit();
    } else {
      els.form.dispatchEvent(new Event("submit", { cancelable: true }));
    }
  }

  // ---- Event stream ---------------------------------------------------------------------------

  function startStream() {
    if (stream.started || session.ended) {
      return;
    }
    stream.started = true;
    connect();
  }

  function scheduleReconnect() {
    const delay = stream.delay;
    stream.delay = Math.min(delay * 2, RECONNECT_MAX_MS);
    stream.waiting = true;
    stream.timer = window.setTimeout(function () {
      stream.waiting = false;
      connect();
    }, delay);
  }

  function armWatchdog(controller) {
    window.clearTimeout(stream.watchdog);
    stream.watchdog = window.setTimeout(function () {
      controller.abort(); // a silent connection is a dead one: reconnect
    }, STREAM_SILENCE_MS);
  }

  function handleServerEvent(item) {
    let data;
    try {
      data = JSON.parse(item.data);
    } catch (error) {
      return; // not ours to guess at
    }
    if (item.event === "message") {
      renderMessage(data);
    } else if (item.event === "delta") {
      applyDelta(data);
    } else if (item.event === "status") {
      applyStatus(data);
    }
  }

  async function readStream(source, controller) {
    const reader = source.getReader();
    const decoder = new TextDecoder();
    let state = newSseState();
    armWatchdog(controller);
    try {
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) {
          return;
        }
        armWatchdog(controller);
        const parsed = parseSseChunk(state, decoder.decode(chunk.value, { stream: true }));
        state = parsed.state;
        if (parsed.events.length > 0 || parsed.comments > 0) {
          stream.delay = RECONNECT_FIRST_MS; // the connection works: start back-off afresh
        }
        parsed.events.forEach(handleServerEvent);
        if (state.rest.length > MAX_SSE_LINE) {
          throw new Error("event stream line too long");
        }
      }
    } finally {
      window.clearTimeout(stream.watchdog);
      reader.cancel().catch(function () {
        // Already closed or aborted.
      });
    }
  }

  // Opens the stream once; whatever ends it (server close, token expiry, network, silence),
  // it reconnects with after=<last seq> unless the session is over or consent is missing.
  async function connect() {
    if (session.ended || !session.token) {
      return;
    }
    const controller = new AbortController();
    stream.controller = controller;
    let again = true;
    armWatchdog(controller); // also covers a server that never answers
    try {
      const response = await apiFetch("/events?after=" + encodeURIComponent(String(stream.lastSeq)), {
        method: "GET",
        headers: { Accept: "text/event-stream" },
        signal: controller.signal,
      });
      if (response.ok && response.body) {
        await readStream(response.body, controller);
      } else if (response.status === 409) {
        again = false;
        stream.started = false; // consent again, then the stream starts over
        const problem = await readError(response);
        startConsent(null);
        setNotice(problem.message || "Please accept the notice to continue.", "error");
      } else if (response.status >= 400 && response.status < 500
        && response.status !== 401 && response.status !== 408 && response.status !== 429) {
        again = false;
        const problem = await readError(response);
        endSession(problem.message || ENDED_TEXT);
      }
    } catch (error) {
      // Network failure, abort by the watchdog, or a broken stream: reconnect below.
    }
    window.clearTimeout(stream.watchdog);
    if (stream.controller === controller) {
      stream.controller = null;
    }
    if (again && !session.ended) {
      scheduleReconnect();
    }
  }

  // ---- Start ----------------------------------------------------------------------------------

  function takeBootstrap() {
    const fragment = window.location.hash.slice(1);
    if (fragment !== "") {
      // Out of the address bar, history and any later Referer straight away.
      window.history.replaceState(window.history.state, "", window.location.pathname + window.location.search);
    }
    return /^[A-Za-z0-9._-]{1,4096}$/.test(fragment) ? fragment : "";
  }

  async function exchange(bootstrap) {
    let response;
    try {
      response = await rawFetch("/session/exchange", jsonInit("POST", { bootstrap: bootstrap }), null);
    } catch (error) {
      // The bootstrap is single use and may be spent already: only a reload can start over.
      endSession("We couldn't connect to the chat. Reload the page to try again.");
      return;
    }
    if (!response.ok) {
      const problem = await readError(response);
      endSession(problem.message || ENDED_TEXT);
      return;
    }
    const data = await readJson(response);
    if (!data || typeof data.token !== "string" || data.token === "") {
      endSession(ENDED_TEXT);
      return;
    }
    if (data.limits && typeof data.limits === "object") {
      limits.maxChars = positiveInt(data.limits.max_message_chars, limits.maxChars);
      limits.maxBytes = positiveInt(data.limits.max_attachment_bytes, limits.maxBytes);
      els.text.maxLength = limits.maxChars;
    }
    setToken(data.token, data.expires_in);
    setNotice("", "");
    if (Array.isArray(data.messages)) {
      data.messages.forEach(renderMessage);
    }
    if (data.conversation && typeof data.conversation.status === "string") {
      applyStatus({ state: data.conversation.status, text: null });
    }
    startConsent(data.consent || null);
  }

  async function resume(stored) {
    session.token = stored.token;
    session.consented = stored.consented === true;
    const renewed = await refreshToken();
    if (!renewed) {
      if (!session.ended) {
        endSession(ENDED_TEXT);
      }
      return;
    }
    setNotice("", "");
    // The page is new, so the whole conversation comes again from the stream (after=0).
    if (stored.consented === true) {
      consentDone();
    } else {
      startConsent(null);
    }
  }

  function start() {
    const missing = Object.keys(els).some(function (name) {
      return !els[name];
    });
    if (missing || !config.api || !config.widgetKey) {
      return;
    }
    els.text.maxLength = limits.maxChars;
    els.form.addEventListener("submit", onSubmit);
    els.text.addEventListener("keydown", onKeyDown);
    els.file.addEventListener("change", onFileChosen);
    els.consentAccept.addEventListener("click", function () {
      recordConsent();
    });
    // The launcher focuses the frame when it opens the chat: move on to the first control.
    window.addEventListener("focus", function () {
      if (!document.activeElement || document.activeElement === document.body) {
        focusFirst();
      }
    });
    window.addEventListener("online", function () {
      if (stream.waiting) {
        window.clearTimeout(stream.timer);
        stream.waiting = false;
        stream.delay = RECONNECT_FIRST_MS;
        connect();
      }
    });
    // Timers are throttled in background tabs: check the token when the page is seen again.
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible" && session.token && !session.ended
        && session.expiresAt - Date.now() < (REFRESH_MARGIN_S + 30) * 1000) {
        refreshToken();
      }
    });

    const bootstrap = takeBootstrap();
    if (bootstrap !== "") {
      exchange(bootstrap);
      return;
    }
    const stored = loadSession();
    if (stored) {
      resume(stored);
      return;
    }
    endSession(ENDED_TEXT);
  }

  start();
})();
